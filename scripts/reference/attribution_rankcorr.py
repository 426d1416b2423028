"""Golden rank correlations (SciPy spearmanr, kendalltau tau-b) for RankComparison tests.

Writes Tests/Fixtures/attribution/rankcorr.json.
Run: .cache/refenv/bin/python scripts/reference/attribution_rankcorr.py
"""
import json
from pathlib import Path

import numpy as np
from scipy import stats

OUT = Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "attribution"
rng = np.random.default_rng(1)
cases = []
for n, ties in [(2, False), (7, True), (60, False), (300, True), (300, False)]:
    x = rng.standard_normal(n)
    y = 0.6 * x + rng.standard_normal(n)
    if ties:  # bfloat16-like coarse scores: many ties on both sides
        x = np.round(x, 1)
        y = np.round(y, 1)
    x = x.astype(np.float32).astype(np.float64)
    y = y.astype(np.float32).astype(np.float64)
    rho = stats.spearmanr(x, y).statistic
    tau = stats.kendalltau(x, y).statistic
    cases.append({"x": x.tolist(), "y": y.tolist(), "spearman": float(rho), "kendall_tau_b": float(tau)})
(OUT / "rankcorr.json").write_text(json.dumps(cases) + "\n")
print([(c["spearman"], c["kendall_tau_b"]) for c in cases])
