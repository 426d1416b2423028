#!/usr/bin/env python3
"""Synthetic pp-contrast inputs: a scores JSONL and SAE sample directories in pp-sae's layout.

    python3 scripts/contrast_synthetic.py --out runs/bench/contrast --n 100000 --d 16384 --layers 1

Rows belong to experiment::task_id groups; the score depends on sequence length (the confound)
and on a latent trait that also moves some statistics and the presence rate of some features,
so the contrast has real signal to find. Needs only numpy. Presence is written in row chunks
through a memory map, so memory stays small at any size.
"""
import argparse
import json
import os

import numpy as np

STAT_NAMES = ["seq_len", "active_entry_fraction", "active_feature_fraction", "mean_active_activation",
              "std_active_activation", "max_active_activation", "token_active_mean", "token_active_std",
              "token_active_cv", "feature_concentration_hhi"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--d", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--tasks", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    n, d = a.n, a.d
    os.makedirs(a.out, exist_ok=True)
    task = rng.integers(0, a.tasks, size=n)
    experiment = np.where(task % 3 == 0, "taboo_v2_en", "taboo_v2_de")
    seq = rng.integers(24, 385, size=n).astype(np.int32)
    latent = rng.normal(size=n) + 0.3 * rng.normal(size=a.tasks)[task]
    score = 2e-5 * seq + 1e-3 * latent + 4e-4 * rng.normal(size=n)
    score = score.astype(np.float32).astype(np.float64)  # fp32 scores give some exact ties
    order = np.lexsort((np.arange(n), -score))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    with open(os.path.join(a.out, "scores.jsonl"), "w") as f:
        for i in range(n):
            f.write(json.dumps({"row_id": f"r{i:06d}", "index": i, "score": float(score[i]), "rank": int(rank[i])}) + "\n")
    for layer in range(a.layers):
        lname = 7 + 6 * layer
        ldir = os.path.join(a.out, f"layer_{lname}")
        os.makedirs(ldir, exist_ok=True)
        with open(os.path.join(ldir, "examples.jsonl"), "w") as f:
            for i in range(n):
                f.write(json.dumps({"row_id": f"r{i:06d}", "index": i, "task_id": int(task[i]),
                                    "outcome": ["success", "failure", "aborted"][int(task[i]) % 3],
                                    "experiment": str(experiment[i])}) + "\n")
        with open(os.path.join(ldir, "stat_names.json"), "w") as f:
            json.dump(STAT_NAMES, f)
        np.save(os.path.join(ldir, "seq_lens.npy"), seq)
        strength = 0.4 + 0.3 * layer
        stats = np.empty((n, 10), dtype=np.float32)
        stats[:, 0] = seq
        for j in range(1, 10):
            stats[:, j] = rng.normal(size=n) * (0.5 + j) + (strength if j % 2 else -strength / 2) * latent + 1e-3 * j * seq
        np.save(os.path.join(ldir, "sample_stats.npy"), stats)
        base = np.clip(rng.beta(0.6, 8, size=d), 0, 0.95).astype(np.float32)
        base[rng.choice(d, size=max(1, d // 200), replace=False)] = 0  # never present
        effect = np.zeros(d, dtype=np.float32)
        hot = rng.choice(d, size=max(2, d // 50), replace=False)
        effect[hot] = rng.normal(0, 1.2, size=hot.size)
        mm = np.lib.format.open_memmap(os.path.join(ldir, "feature_presence.npy"), mode="w+", dtype=np.bool_, shape=(n, d))
        chunk = max(1, (1 << 26) // d)
        logit_base = np.log(np.maximum(base, 1e-9) / (1 - base))
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            lat = latent[s:e, None].astype(np.float32)
            if np.any(effect):
                p = 1 / (1 + np.exp(-(logit_base[None, :] + effect[None, :] * lat)))
            else:
                p = base[None, :]
            mm[s:e] = rng.random((e - s, d), dtype=np.float32) < p
            mm[s:e, base == 0] = False
        mm.flush()
        del mm
        with open(os.path.join(ldir, "layer_summary.json"), "w") as f:
            json.dump({"sae_id": f"layer_{lname}_width_{d}_synthetic", "layer": lname, "d_sae": d,
                       "hook_name": f"blocks.{lname}.hook_resid_post", "num_prompts": n}, f)
    print(f"wrote {a.out}: {n} rows, {a.layers} layer(s) of {d} features")


if __name__ == "__main__":
    main()
