#!/usr/bin/env python3
"""Times pp-contrast against the numpy/scipy/scikit-learn reference on the same inputs, in one
command, and cross-checks their enrichment (which does not depend on the split).

    python3 scripts/contrast_bench.py --pp .build/release/pp-contrast --py .cache/refenv/bin/python \
        --data runs/bench/contrast --top-k 1000
"""
import argparse
import glob
import json
import math
import os
import subprocess
import sys


def timed(cmd):
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    wall, rss = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pp", required=True)
    ap.add_argument("--py", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--top-k", type=int, default=1000)
    a = ap.parse_args()
    layers = sorted(glob.glob(os.path.join(a.data, "layer_*")))
    common = ["--scores", os.path.join(a.data, "scores.jsonl"), "--top-k", str(a.top_k), "--residualize", "seq_len"]
    for layer in layers:
        common += ["--sae", layer]
    ours = os.path.join(a.data, "pp-contrast.json")
    ref = os.path.join(a.data, "reference.json")
    # Warm the page cache for both alike.
    for layer in layers:
        with open(os.path.join(layer, "feature_presence.npy"), "rb") as f:
            while f.read(1 << 24):
                pass
    t_pp, rss_pp = timed([a.pp, "--quiet", "--all-features", "-o", ours] + common)
    t_py, rss_py = timed([a.py, os.path.join(os.path.dirname(__file__), "reference", "contrast_reference.py"), "-o", ref] + common)
    r_pp, r_py = json.load(open(ours)), json.load(open(ref))
    worst = 0.0
    for lp, lr in zip(r_pp["layers"], r_py["layers"]):
        qp = {f["feature"]: f["neg_log10_q"] for f in lp["enrichment"]["features"]}
        assert lp["enrichment"]["n_tested"] == lr["n_tested"], "tested feature counts differ"
        for j, q in zip(lr["features"], lr["q"]):
            if q > 1e-300:
                worst = max(worst, abs(qp[j] - (-math.log10(q))) / max(1.0, -math.log10(q)))
        print(f"  {os.path.basename(lp['directory'])}: q<0.05 features pp-contrast {lp['enrichment']['n_significant_q05']}"
              f" reference {lr['n_significant_q05']}; test AUC pp-contrast {lp['model']['test_auc']:.4f}"
              f" reference {lr['model']['test_auc']:.4f} (different seeded splits)")
    print(f"  enrichment agreement: max relative difference of -log10 q = {worst:.2e}")
    n = r_pp["n_samples"]
    d = r_pp["layers"][0]["d_sae"]
    print(f"pp-contrast  {t_pp:7.2f} s  peak RSS {rss_pp:7.0f} MiB   ({n} rows x {d} features x {len(layers)} layer(s), 10 stats)")
    print(f"reference    {t_py:7.2f} s  peak RSS {rss_py:7.0f} MiB   (numpy/scipy/scikit-learn)")
    print(f"speed-up     {t_py / t_pp:7.2f}x")


if __name__ == "__main__":
    main()
