#!/usr/bin/env python3
"""Goldens for PlaypenStats (pp-contrast) from scikit-learn, SciPy and NumPy.

Writes small JSON fixtures under Tests/Fixtures/contrast/. Run with the reference env:
    .cache/refenv/bin/python scripts/reference/contrast_goldens.py   (or .cache/refenv/bin/python)
"""
import json
import math
import os
import warnings

import numpy as np
import scipy
import scipy.stats as st
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.preprocessing import StandardScaler

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "contrast")
os.makedirs(OUT, exist_ok=True)


def dump(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=None, separators=(",", ":"))
        f.write("\n")


def fl(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


rng = np.random.default_rng(20260218)
versions = {"sklearn": sklearn.__version__, "scipy": scipy.__version__, "numpy": np.__version__}

# ---------------------------------------------------------------------------------------------
# Standardisation (fit on train rows) + balanced L2 logistic regression.
logistic_cases = []


def logistic_case(name, X, y, train, C=1.0):
    scaler = StandardScaler().fit(X[train])
    Xz = scaler.transform(X)
    fits = {}
    for solver in ("newton-cg", "lbfgs"):
        m = LogisticRegression(class_weight="balanced", C=C, tol=1e-12, max_iter=100000, solver=solver)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(Xz[train], y[train])
        fits[solver] = m
    a, b = fits["newton-cg"], fits["lbfgs"]
    agree = float(np.max(np.abs(np.r_[a.coef_.ravel(), a.intercept_] - np.r_[b.coef_.ravel(), b.intercept_])))
    assert agree < 1e-7, (name, agree)
    m = a
    logistic_cases.append({
        "name": name, "n": int(X.shape[0]), "p": int(X.shape[1]), "C": C,
        "x": fl(X), "y": [int(v) for v in y], "train": [int(i) for i in train],
        "mean": fl(scaler.mean_), "scale": fl(scaler.scale_),
        "coef": fl(m.coef_), "intercept": float(m.intercept_[0]),
        "decision": fl(m.decision_function(Xz)), "probability": fl(m.predict_proba(Xz)[:, 1]),
        "train_auc": float(roc_auc_score(y[train], m.decision_function(Xz[train]))),
        "solver_agreement": agree,
    })


n, p = 240, 10
X = rng.normal(size=(n, p)) * rng.uniform(0.5, 30, size=p) + rng.normal(0, 50, size=p)
beta = rng.normal(size=p) / np.std(X, axis=0)
y = (X @ beta + rng.logistic(size=n) * 1.5 > np.quantile(X @ beta, 0.8)).astype(int)
train = np.sort(rng.choice(n, size=190, replace=False))
logistic_case("ten_stats_imbalanced", X, y, train)

X2 = X.copy()
X2[:, 3] = 7.25  # a constant statistic
logistic_case("constant_column", X2, y, train)

Xs = rng.normal(size=(60, 2))
ys = (Xs[:, 0] > 0).astype(int)  # perfectly separable: the L2 penalty keeps it finite
logistic_case("separable", Xs, ys, np.arange(60))

Xl = rng.integers(10, 384, size=(150, 1)).astype(float)
yl = (Xl[:, 0] + rng.normal(0, 120, 150) > 300).astype(int)
logistic_case("seq_len_only", Xl, yl, np.arange(150), C=0.5)
dump("logistic.json", {"versions": versions, "cases": logistic_cases})

# ---------------------------------------------------------------------------------------------
# ROC AUC with ties, ROC curve, mid-ranks, percentiles.
auc_cases = [{"name": "reference_fixture", "y": [0, 0, 1, 1, 1, 0], "s": [0.1, 0.4, 0.4, 0.8, 0.1, 0.3]}]
for i in range(4):
    m = int(rng.integers(8, 80))
    yy = rng.integers(0, 2, size=m)
    yy[0], yy[1] = 0, 1
    ss = rng.integers(0, 6, size=m).astype(float) / 4 if i % 2 == 0 else rng.normal(size=m)
    auc_cases.append({"name": f"random_{i}", "y": [int(v) for v in yy], "s": fl(ss)})
for c in auc_cases:
    c["auc"] = float(roc_auc_score(c["y"], c["s"]))
    fpr, tpr, _ = roc_curve(c["y"], c["s"], drop_intermediate=False)
    c["fpr"], c["tpr"] = fl(fpr), fl(tpr)
    c["midranks"] = fl(st.rankdata(c["s"]))
vals = rng.normal(size=37)
dump("auc.json", {"versions": versions, "cases": auc_cases,
                  "percentile": {"values": fl(vals), "q": [0.0, 0.025, 0.5, 0.975, 1.0],
                                 "expected": fl(np.percentile(vals, [0, 2.5, 50, 97.5, 100]))}})

# ---------------------------------------------------------------------------------------------
# Fisher exact (two-sided, greater, less) and Haldane-Anscombe log odds ratio.
tables = [[[8, 2], [1, 5]], [[3, 17], [10, 70]], [[0, 20], [5, 75]], [[20, 0], [30, 50]],
          [[5, 5], [5, 5]], [[1, 9], [9, 1]], [[0, 10], [10, 0]], [[4, 6], [6, 4]],
          [[10, 990], [100, 98900]], [[60, 940], [3000, 96000]], [[900, 100], [40000, 59000]],
          [[0, 1000], [16000, 83000]], [[1000, 0], [50, 98950]], [[7, 993], [700, 98300]],
          [[500, 500], [500, 500]], [[50, 50], [9950, 9950]]]
for _ in range(30):
    M = int(rng.integers(4, 400))
    K = int(rng.integers(1, M))
    N = int(rng.integers(1, M))
    a = int(st.hypergeom(M, K, N).rvs(random_state=rng))
    tables.append([[a, K - a], [N - a, M - K - N + a]])
fisher = []
for t in tables:
    (a, b), (c, d) = t
    res = {}
    for alt in ("two-sided", "greater", "less"):
        r = st.fisher_exact(t, alternative=alt)
        res[alt] = float(r.pvalue)
        orr = float(r.statistic)
    A, B, Cc, D = a + .5, b + .5, c + .5, d + .5
    fisher.append({"table": t, "odds_ratio": orr if np.isfinite(orr) else ("inf" if orr > 0 else "nan"),
                   "two_sided": res["two-sided"], "greater": res["greater"], "less": res["less"],
                   "lor": float(np.log(A * D / (B * Cc))), "se": float(np.sqrt(1 / A + 1 / B + 1 / Cc + 1 / D))})
dump("fisher.json", {"versions": versions, "cases": fisher})

# ---------------------------------------------------------------------------------------------
# Benjamini-Hochberg.
bh = [{"p": [0.01, 0.04, 0.03, 0.005, 0.2, 1.0]}]
for m in (1, 7, 50):
    pv = rng.uniform(size=m) ** 3
    if m > 5:
        pv[2] = pv[4]  # a tie
    bh.append({"p": fl(pv)})
for c in bh:
    c["q"] = fl(st.false_discovery_control(c["p"], method="bh"))
dump("bh.json", {"versions": versions, "cases": bh})

# ---------------------------------------------------------------------------------------------
# Rank correlations, top-k Jaccard, OLS residualisation, Cohen's d.
corr = []
for i in range(4):
    m = int(rng.integers(10, 300))
    x = rng.normal(size=m)
    yv = x + rng.normal(size=m)
    if i % 2 == 1:
        x = np.round(x * 2) / 2
        yv = np.round(yv)
    k = max(1, m // 10)
    topx = set(np.lexsort((np.arange(m), -x))[:k]); topy = set(np.lexsort((np.arange(m), -yv))[:k])
    corr.append({"x": fl(x), "y": fl(yv), "spearman": float(st.spearmanr(x, yv).statistic),
                 "kendall_tau_b": float(st.kendalltau(x, yv).statistic), "pearson": float(st.pearsonr(x, yv).statistic),
                 "k": k, "jaccard": len(topx & topy) / len(topx | topy)})
seq = rng.integers(20, 384, size=120).astype(float)
score = 1e-3 * seq + rng.normal(0, 0.05, size=120)
slope, intercept = np.polyfit(seq, score, 1)
res = score - (slope * seq + intercept)
g1 = rng.normal(1.0, 2.0, size=25); g0 = rng.normal(0.0, 1.0, size=90)
s1, s0 = np.var(g1, ddof=1), np.var(g0, ddof=1)
d = (g1.mean() - g0.mean()) / np.sqrt(((25 - 1) * s1 + (90 - 1) * s0) / (25 + 90 - 2))
dump("correlation.json", {"versions": versions, "cases": corr,
                          "residualize": {"x": fl(seq), "y": fl(score), "slope": float(slope), "intercept": float(intercept),
                                          "r2": float(1 - np.var(res) / np.var(score)), "residuals": fl(res)},
                          "cohen_d": {"g1": fl(g1), "g0": fl(g0), "d": float(d)}})
print("wrote", OUT)

# ---------------------------------------------------------------------------------------------
# End to end: a tiny pp-contrast input (scores JSONL + two SAE sample directories, pp-sae layout)
# and the expected report values from scikit-learn/SciPy, with pp-contrast's labelling (top-k by
# residual, ties by row index) and its grouped split (the same stable hash order, ported below).
E2E = os.path.join(OUT, "e2e")
M64 = (1 << 64) - 1


def stable_hash(text, seed):
    h = 0xCBF29CE484222325 ^ ((seed * 0x100000001B3) & M64)
    for byte in text.encode():
        h ^= byte
        h = (h * 0x100000001B3) & M64
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & M64
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & M64
    return h ^ (h >> 31)


def grouped_split(labels, groups, f, seed):
    uniq = sorted(set(groups))
    x = f * len(uniq)
    n_test = min(len(uniq) - 1, max(1, math.ceil(x - 1e-9 * max(1.0, abs(x)))))  # pp-contrast's ceilTolerant
    for draw in range(1000):
        ds = seed ^ ((draw * 0x9E3779B97F4A7C15) & M64)
        ranked = sorted(uniq, key=lambda g: (stable_hash(g, ds), g))
        test_groups = set(ranked[:n_test])
        test = np.array([i for i, g in enumerate(groups) if g in test_groups])
        train = np.array([i for i, g in enumerate(groups) if g not in test_groups])
        if 0 < labels[test].sum() < test.size and 0 < labels[train].sum() < train.size:
            return train, test, sorted(test_groups), draw + 1
    raise SystemExit("no split")



os.makedirs(E2E, exist_ok=True)
n, d, k = 160, 48, 20
task = rng.integers(0, 24, size=n)
seq = rng.integers(16, 385, size=n).astype(np.int32)
latent = rng.normal(size=n)
score = (3e-6 * seq + 1e-3 * latent + 2e-4 * rng.normal(size=n)).astype(np.float32).astype(np.float64)
score[7] = score[3]  # an exact tie
with open(os.path.join(E2E, "scores.jsonl"), "w") as f:
    order0 = np.lexsort((np.arange(n), -score))
    rank = np.empty(n, dtype=int)
    rank[order0] = np.arange(1, n + 1)
    for i in range(n):
        f.write(json.dumps({"row_id": f"row{i:04d}", "index": i, "score": float(score[i]), "rank": int(rank[i])}) + "\n")
# residualize seq_len (the original's float64 OLS with 1e-12)
xm, ym = seq.mean(), score.mean()
beta = ((seq - xm) * (score - ym)).sum() / (((seq - xm) ** 2).sum() + 1e-12)
resid = score - (beta * seq + (ym - beta * xm))
order = np.lexsort((np.arange(n), -resid))
y = np.zeros(n, dtype=int)
y[order[:k]] = 1
groups = [f"exp{t % 2}::{t}" for t in task]
train, test, test_groups, draws = grouped_split(y, groups, 0.25, 42)
names = ["seq_len"] + [f"stat_{j}" for j in range(1, 6)]
expected_layers = []
for li, lname in enumerate(["layer_3", "layer_5"]):
    ldir = os.path.join(E2E, lname)
    os.makedirs(ldir, exist_ok=True)
    perm = np.arange(n) if li == 0 else rng.permutation(n)  # the second layer lists rows in another order
    with open(os.path.join(ldir, "examples.jsonl"), "w") as f:
        for i in perm:
            f.write(json.dumps({"row_id": f"row{i:04d}", "index": int(i), "task_id": str(task[i] % 24),
                                "outcome": "success", "experiment": f"exp{task[i] % 2}"}) + "\n")
    X = np.empty((n, len(names)), dtype=np.float32)
    X[:, 0] = seq
    for j in range(1, len(names)):
        X[:, j] = rng.normal(size=n) * j + (0.8 - 0.3 * li) * latent * (j % 3)
    X[:, 4] = 2.5  # a constant statistic: scale 1, coefficient 0, Cohen's d null
    P = rng.random((n, d)) < np.clip(0.15 + 0.12 * latent[:, None] * (np.arange(d) % 4 == 0), 0.01, 0.99)
    P[:, 5] = False   # never present
    P[:, 6] = True    # always present
    np.save(os.path.join(ldir, "sample_stats.npy"), X[perm])
    np.save(os.path.join(ldir, "seq_lens.npy"), seq[perm])
    np.save(os.path.join(ldir, "feature_presence.npy"), P[perm])
    with open(os.path.join(ldir, "stat_names.json"), "w") as f:
        json.dump(names, f)
    with open(os.path.join(ldir, "layer_summary.json"), "w") as f:
        json.dump({"sae_id": f"{lname}_width_{d}", "layer": 3 + 2 * li, "d_sae": d}, f)
    Xd = X.astype(np.float64)
    scaler = StandardScaler().fit(Xd[train])
    Xz = scaler.transform(Xd)
    m = LogisticRegression(class_weight="balanced", tol=1e-12, max_iter=100000, solver="newton-cg").fit(Xz[train], y[train])
    z = m.decision_function(Xz)
    top, rest = Xd[y == 1], Xd[y == 0]
    cd = []
    for j in range(len(names)):
        pooled = np.sqrt(((k - 1) * top[:, j].var(ddof=1) + (n - k - 1) * rest[:, j].var(ddof=1)) / (n - 2))
        cd.append(None if pooled == 0 else float((top[:, j].mean() - rest[:, j].mean()) / pooled))
    tested = [j for j in range(d) if 0 < P[:, j].sum() < n]
    feats = []
    pv = []
    for j in tested:
        a = int(P[y == 1, j].sum()); b = k - a; c = int(P[y == 0, j].sum()); dd = n - k - c
        pv.append(st.fisher_exact([[a, b], [c, dd]]).pvalue)
        feats.append({"feature": j, "a": a, "b": b, "c": c, "d": dd})
    q = st.false_discovery_control(pv, method="bh")
    for fj, p_, q_ in zip(feats, pv, q):
        fj["p"] = float(p_)
        fj["q"] = float(q_)
    expected_layers.append({"name": f"{lname}_width_{d}", "coef": fl(m.coef_), "intercept": float(m.intercept_[0]),
                            "train_auc": float(roc_auc_score(y[train], z[train])), "test_auc": float(roc_auc_score(y[test], z[test])),
                            "full_auc": float(roc_auc_score(y, z)), "cohen_d": cd, "features": feats,
                            "n_significant_q05": int((q < 0.05).sum())})
bs = StandardScaler().fit(seq[train, None].astype(float))
bm = LogisticRegression(class_weight="balanced", tol=1e-12, max_iter=100000, solver="newton-cg").fit(
    bs.transform(seq[train, None].astype(float)), y[train])
bz = bm.decision_function(bs.transform(seq[:, None].astype(float)))
dump("e2e_expected.json", {"versions": versions, "n": n, "k": k, "top": [int(i) for i in order[:k]],
                           "slope": float(beta), "test_groups": test_groups, "draws": draws,
                           "train": [int(i) for i in train], "test": [int(i) for i in test],
                           "baseline": {"coef": fl(bm.coef_), "intercept": float(bm.intercept_[0]),
                                        "test_auc": float(roc_auc_score(y[test], bz[test]))},
                           "layers": expected_layers})
print("wrote", E2E)
