#!/usr/bin/env python3
"""numpy/scipy/scikit-learn reference of pp-contrast's work, for `make contrast-bench`.

Same inputs, same steps: join scores to SAE rows by row_id, top-k labels (ties by row index,
optionally on seq_len residuals), a grouped split by experiment::task_id, StandardScaler +
LogisticRegression(class_weight="balanced") solved to convergence (newton-cg, tol 1e-10) on the
ten statistics and on seq_len alone, roc_auc_score on train/test/full, a 1000-replicate
stratified bootstrap and a 1000-permutation p-value on test, Cohen's d, per-feature presence
counts over the memory-mapped matrix (chunked), scipy.stats.fisher_exact per tested feature,
Haldane-Anscombe log odds ratios and scipy.stats.false_discovery_control. Writes a JSON report.
"""
import argparse
import json
import math
import os

import numpy as np
import scipy.stats as st
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def fit_measure(X, y, train, test, rng, B, P):
    scaler = StandardScaler().fit(X[train])
    Xz = scaler.transform(X)
    m = LogisticRegression(class_weight="balanced", C=1.0, solver="newton-cg", tol=1e-10, max_iter=1000)
    m.fit(Xz[train], y[train])
    z = m.decision_function(Xz)
    zt, yt = z[test], y[test]
    pos, neg = np.flatnonzero(yt == 1), np.flatnonzero(yt == 0)
    boots = []
    for _ in range(B):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        boots.append(roc_auc_score(yt[idx], zt[idx]))
    obs = roc_auc_score(yt, zt)
    perm = sum(roc_auc_score(rng.permutation(yt), zt) >= obs for _ in range(P))
    return {"coef": m.coef_.ravel().tolist(), "intercept": float(m.intercept_[0]),
            "train_auc": float(roc_auc_score(y[train], z[train])), "test_auc": float(obs),
            "full_auc": float(roc_auc_score(y, z)),
            "test_auc_ci": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))],
            "permutation_p": (1 + perm) / (P + 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scores", required=True)
    ap.add_argument("--sae", action="append", required=True)
    ap.add_argument("--top-k", type=int, required=True)
    ap.add_argument("--residualize", default="none")
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)

    scores = {r["row_id"]: r for r in read_jsonl(a.scores)}
    layers = []
    for d in a.sae:
        ex = read_jsonl(os.path.join(d, "examples.jsonl"))
        layers.append({"dir": d, "examples": ex,
                       "stats": np.load(os.path.join(d, "sample_stats.npy")).astype(np.float64),
                       "seq": np.load(os.path.join(d, "seq_lens.npy")).astype(np.float64),
                       "names": json.load(open(os.path.join(d, "stat_names.json"))),
                       "presence": np.load(os.path.join(d, "feature_presence.npy"), mmap_mode="r")})
    ex = layers[0]["examples"]
    if len(ex) != len(scores) or any(e["row_id"] not in scores for e in ex):
        raise SystemExit("rows do not match")
    s = np.array([scores[e["row_id"]]["score"] for e in ex], dtype=np.float64)
    index = np.array([scores[e["row_id"]]["index"] for e in ex])
    if not np.all(np.isfinite(s)):
        raise SystemExit("NaN score")
    n = s.size
    seq = layers[0]["seq"]
    values = s
    if a.residualize == "seq_len":
        xm, ym = seq.mean(), s.mean()
        beta = ((seq - xm) * (s - ym)).sum() / (((seq - xm) ** 2).sum() + 1e-12)
        values = s - (beta * seq + (ym - beta * xm))
    k = a.top_k
    order = np.lexsort((index, -values))
    y = np.zeros(n, dtype=int)
    y[order[:k]] = 1

    groups = np.array([f"{e.get('experiment', '')}::{e['task_id']}" for e in ex])
    uniq = np.unique(groups)
    n_test = math.ceil(a.test_fraction * uniq.size)
    for _ in range(1000):
        test_groups = set(rng.permutation(uniq)[:n_test])
        is_test = np.array([g in test_groups for g in groups])
        train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
        if 0 < y[train].sum() < train.size and 0 < y[test].sum() < test.size:
            break
    else:
        raise SystemExit("no grouped split with both classes")

    report = {"n_samples": n, "n_top": k, "baseline": fit_measure(seq[:, None], y, train, test, rng, a.bootstrap, a.permutations),
              "layers": []}
    for L in layers:
        pos_map = {e["row_id"]: i for i, e in enumerate(ex)}
        perm = np.array([pos_map[e["row_id"]] for e in L["examples"]])
        X = np.empty_like(L["stats"])
        X[perm] = L["stats"]
        model = fit_measure(X, y, train, test, rng, a.bootstrap, a.permutations)
        top, rest = X[y == 1], X[y == 0]
        n1, n0 = top.shape[0], rest.shape[0]
        pooled = np.sqrt(((n1 - 1) * top.var(0, ddof=1) + (n0 - 1) * rest.var(0, ddof=1)) / (n1 + n0 - 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            d = (top.mean(0) - rest.mean(0)) / pooled
        P = L["presence"]
        ly = y[perm]
        total = np.zeros(P.shape[1], dtype=np.int64)
        chunk = max(1, (1 << 27) // P.shape[1])
        for s0 in range(0, P.shape[0], chunk):
            total += P[s0:s0 + chunk].sum(axis=0, dtype=np.int64)
        topc = P[np.flatnonzero(ly == 1)].sum(axis=0, dtype=np.int64)
        tested = np.flatnonzero((total > 0) & (total < n))
        pvals = np.empty(tested.size)
        lor = np.empty(tested.size)
        se = np.empty(tested.size)
        for t, j in enumerate(tested):
            A = int(topc[j]); B_ = k - A; C = int(total[j]) - A; D = n - k - C
            pvals[t] = st.fisher_exact([[A, B_], [C, D]]).pvalue
            aa, bb, cc, dd = A + .5, B_ + .5, C + .5, D + .5
            lor[t] = math.log(aa * dd / (bb * cc))
            se[t] = math.sqrt(1 / aa + 1 / bb + 1 / cc + 1 / dd)
        q = st.false_discovery_control(pvals, method="bh")
        report["layers"].append({"dir": L["dir"], "model": model, "cohen_d": [None if not np.isfinite(v) else float(v) for v in d],
                                 "n_tested": int(tested.size), "n_significant_q05": int((q < 0.05).sum()),
                                 "features": tested.tolist(), "q": q.tolist(), "lor": lor.tolist(), "se": se.tolist()})
    with open(a.output, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main()
