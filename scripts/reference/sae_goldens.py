#!/usr/bin/env python3
"""Goldens for PlaypenSAE: encode and the per-sample statistics of the original pipeline.

Writes Tests/Fixtures/sae/:
  gs2/config.json + gs2/params.safetensors   synthetic Gemma Scope 2 JumpReLU SAE (d_in 64, d_sae 256)
  gs1/params.npz, gs1_deflate/params.npz      the same SAE as Gemma Scope 1 (stored / deflated zip)
  saelens_topk/cfg.json + sae_weights.safetensors   a SAELens TopK SAE (k 8, rescale by decoder norm,
                                              apply_b_dec_to_input true) sharing the same weights
  golden.safetensors   x [T, 64] (3 samples, a BOS-like outlier first in each), jumprelu codes,
                       topk codes, per-sample stats with and without BOS, feature_activation_mean
  golden.json          sample lengths, top features per ranking metric
The statistics follow original-pipeline.md §5.3-5.4 literally (numpy, float64, ddof 0).
Only numpy is needed: python3 scripts/reference/sae_goldens.py
"""
import json
import os
import struct
import zipfile
import io

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "sae")
D_IN, D_SAE, K = 64, 256, 8
LENGTHS = [17, 9, 25]
MARGIN = 2e-3


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def jumprelu(pre, theta):
    return np.where((pre > theta) & (pre > 0), pre, 0.0)


def topk(pre, k):
    out = np.zeros_like(pre)
    for t in range(pre.shape[0]):
        # stable: ties by lower index (none are expected: the generator checks the margin)
        order = np.argsort(-pre[t], kind="stable")[:k]
        out[t, order] = np.maximum(pre[t, order], 0.0)
    return out


def stats(A, tau=0.0):
    """original-pipeline.md §5.3, literally."""
    T, d = A.shape
    M = A > tau
    c = M.sum(axis=0)
    L = M.sum(axis=1)
    V = A[M]
    s = np.zeros(10)
    s[0] = T
    if V.size > 0:
        s[1] = M.sum() / (T * d)
        s[2] = (c > 0).sum() / d
        s[3] = V.mean()
        s[4] = V.std()
        s[5] = V.max()
        s[6] = L.mean()
        s[7] = L.std()
        s[8] = s[7] / (s[6] + 1e-8)
        share = c / c.sum()
        s[9] = (share ** 2).sum()
    return s.astype(np.float32)


def activation_mean(A, tau=0.0):
    M = A > tau
    c = M.sum(axis=0)
    sums = np.where(M, A, 0.0).sum(axis=0)
    return np.where(c > 0, sums / np.maximum(c, 1), 0.0).astype(np.float32)


def summary(samples, tau=0.0):
    token_counts = np.zeros(D_SAE, np.int64)
    prompt_counts = np.zeros(D_SAE, np.int64)
    sums = np.zeros(D_SAE)
    mx = np.full(D_SAE, -np.inf)
    for A in samples:
        M = A > tau
        c = M.sum(axis=0)
        token_counts += c
        prompt_counts += c > 0
        sums += np.where(M, A, 0.0).sum(axis=0)
        mx = np.maximum(mx, np.where(M, A, -np.inf).max(axis=0))
    result = {}
    for metric in ["token_count", "prompt_count", "total_activation", "mean_activation", "max_activation"]:
        for min_count in [10, 1000]:
            values = {
                "token_count": token_counts.astype(float), "prompt_count": prompt_counts.astype(float),
                "total_activation": sums, "mean_activation": sums / np.maximum(token_counts, 1),
                "max_activation": np.where(token_counts > 0, mx, 0.0),
            }[metric]
            cand = np.nonzero(token_counts >= min_count)[0]
            if cand.size == 0:
                cand = np.nonzero(token_counts > 0)[0]
            order = sorted(cand, key=lambda j: (-values[j], j))[:20]
            result[f"{metric}/{min_count}"] = [
                {"feature_id": int(j), "token_count": int(token_counts[j]), "prompt_count": int(prompt_counts[j]),
                 "total_activation": float(sums[j]),
                 "mean_activation_when_active": float(sums[j] / token_counts[j]) if token_counts[j] else 0.0,
                 "max_activation": float(mx[j]) if token_counts[j] else 0.0}
                for j in order]
    return result, int((token_counts > 0).sum())


def make(seed):
    rng = np.random.default_rng(seed)
    w_dec = rng.normal(size=(D_SAE, D_IN))
    w_dec /= np.linalg.norm(w_dec, axis=1, keepdims=True)
    w_enc = (w_dec.T + 0.3 * rng.normal(size=(D_IN, D_SAE)) / np.sqrt(D_IN)).astype(np.float32)
    w_dec = (w_dec * rng.uniform(0.5, 1.5, size=(D_SAE, 1))).astype(np.float32)
    b_enc = (0.1 * rng.normal(size=D_SAE)).astype(np.float32)
    b_dec = (0.05 * rng.normal(size=D_IN)).astype(np.float32)
    # Activations: a sparse combination of feature directions plus noise; row 0 of each sample
    # is a BOS-like outlier with a large norm.
    xs = []
    for T in LENGTHS:
        codes = np.zeros((T, D_SAE))
        for t in range(T):
            idx = rng.choice(D_SAE, size=6, replace=False)
            codes[t, idx] = rng.exponential(2.0, size=6)
        x = codes @ w_dec.astype(np.float64) + 0.2 * rng.normal(size=(T, D_IN))
        x[0] = 40.0 * rng.normal(size=D_IN)
        xs.append(x)
    x = np.concatenate(xs).astype(np.float32)
    pre = x.astype(np.float64) @ w_enc.astype(np.float64) + b_enc
    # Thresholds at a per-feature quantile (about 5 % of entries survive), then moved off every
    # pre-activation by at least MARGIN so float32 rounding cannot flip a comparison.
    theta = np.quantile(pre, 0.95, axis=0)
    for j in range(D_SAE):
        while np.min(np.abs(pre[:, j] - theta[j])) < MARGIN:
            theta[j] += MARGIN
    theta = np.maximum(theta, 0.05).astype(np.float32)
    # TopK (rescaled by decoder norm, on x - b_dec) must have a clear gap between the k-th and k+1-th.
    norms = np.linalg.norm(w_dec.astype(np.float64), axis=1)
    pre_topk = ((x.astype(np.float64) - b_dec) @ w_enc.astype(np.float64) + b_enc) * norms
    srt = -np.sort(-pre_topk, axis=1)
    gap = np.min(srt[:, K - 1] - srt[:, K])
    return w_enc, b_enc, theta, w_dec, b_dec, x, pre, pre_topk, gap


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed in range(100):
        w_enc, b_enc, theta, w_dec, b_dec, x, pre, pre_topk, gap = make(seed)
        if gap > MARGIN:
            break
    else:
        raise SystemExit("no seed gave a clear top-k gap")
    codes = jumprelu(pre, theta.astype(np.float64))
    codes_topk = topk(pre_topk, K)

    gs2 = os.path.join(OUT, "gs2")
    os.makedirs(gs2, exist_ok=True)
    with open(os.path.join(gs2, "config.json"), "w") as f:
        json.dump({"width": D_SAE, "model_name": "synthetic", "architecture": "jump_relu", "l0": 12,
                   "affine_connection": False, "hf_hook_point_in": "model.layers.3.output",
                   "hf_hook_point_out": "model.layers.3.output", "type": "sae"}, f, indent=1)
    write_safetensors(os.path.join(gs2, "params.safetensors"),
                      {"w_enc": w_enc, "b_enc": b_enc, "threshold": theta, "w_dec": w_dec, "b_dec": b_dec})

    arrays = {"W_enc": w_enc, "W_dec": w_dec, "b_enc": b_enc, "b_dec": b_dec, "threshold": theta}
    for name, compression in [("gs1", zipfile.ZIP_STORED), ("gs1_deflate", zipfile.ZIP_DEFLATED)]:
        folder = os.path.join(OUT, name, "layer_3", "width_256", "average_l0_12")
        os.makedirs(folder, exist_ok=True)
        # numpy's savez writes each member through zipfile with force_zip64 (zip64 extra fields).
        with zipfile.ZipFile(os.path.join(folder, "params.npz"), "w", compression=compression) as z:
            for key, a in arrays.items():
                buf = io.BytesIO()
                np.save(buf, a)
                with z.open(key + ".npy", "w", force_zip64=True) as m:
                    m.write(buf.getvalue())

    sl = os.path.join(OUT, "saelens_topk")
    os.makedirs(sl, exist_ok=True)
    with open(os.path.join(sl, "cfg.json"), "w") as f:
        json.dump({"architecture": "topk", "d_in": D_IN, "d_sae": D_SAE, "dtype": "float32", "device": "cpu",
                   "apply_b_dec_to_input": True, "normalize_activations": "none", "k": K,
                   "rescale_acts_by_decoder_norm": True,
                   "metadata": {"model_name": "synthetic", "hook_name": "blocks.3.hook_resid_post",
                                "hook_head_index": None, "prepend_bos": True, "context_size": 128}}, f, indent=1)
    write_safetensors(os.path.join(sl, "sae_weights.safetensors"),
                      {"W_enc": w_enc, "b_enc": b_enc, "W_dec": w_dec, "b_dec": b_dec})

    starts = np.cumsum([0] + LENGTHS)
    samples = [codes[starts[i]:starts[i + 1]] for i in range(len(LENGTHS))]
    stats_bos = np.stack([stats(A) for A in samples])
    stats_nobos = np.stack([stats(A[1:]) for A in samples])
    stats_tau = np.stack([stats(A, 0.5) for A in samples])
    act_mean = np.stack([activation_mean(A) for A in samples])
    write_safetensors(os.path.join(OUT, "golden.safetensors"), {
        "x": x, "codes_jumprelu": codes.astype(np.float32), "codes_topk": codes_topk.astype(np.float32),
        "stats": stats_bos, "stats_no_bos": stats_nobos, "stats_tau_0_5": stats_tau,
        "feature_activation_mean": act_mean,
    })
    top, active = summary(samples)
    top_nobos, active_nobos = summary([A[1:] for A in samples])
    with open(os.path.join(OUT, "golden.json"), "w") as f:
        json.dump({"lengths": LENGTHS, "k": K, "num_active_features": active, "top": top,
                   "num_active_features_no_bos": active_nobos, "top_no_bos": top_nobos,
                   "mean_l0_jumprelu": float((codes > 0).sum(axis=1).mean())}, f, indent=1)
    print("seed", seed, "topk gap", gap, "mean L0", (codes > 0).sum(axis=1).mean(), "active", active)


if __name__ == "__main__":
    main()
