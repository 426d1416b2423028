"""Golden preconditioners and scores on a small synthetic gradient set.

bergson-2 cases run Bergson 2.5.1's own code (invert_psd_matrix, DensePreconditioner,
normalize_and_aggregate_grads, _make_split_hessian, Scorer). bergson-0.5 cases follow the
reference formula of attribution.md 7.1 (fp64 eigh of H + 0.1·mean|H|·I, inverse cast to fp32,
query-only preconditioning, cosine with the unit-normalised train rows).

Writes Tests/Fixtures/attribution/scores_*.npy and scores_cases.json.
Run: .cache/refenv/bin/python scripts/reference/attribution_scores.py
"""
import json
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)
from bergson.hessians.inversion import invert_psd_matrix  # noqa: E402
from bergson.hessians.preconditioner import DensePreconditioner  # noqa: E402
from bergson.process_grads import normalize_and_aggregate_grads  # noqa: E402
from bergson.score.score import _make_split_hessian  # noqa: E402
from bergson.score.score_writer import InMemorySequenceScoreWriter  # noqa: E402
from bergson.score.scorer import Scorer  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "attribution"
rng = np.random.default_rng(0)
modules = ["m0.lora_A", "m0.lora_B", "m1.lora_A"]
d = 16  # p = 4
N, NQ = 40, 6
scales = [1.0, 0.05, 3.0]  # per-module magnitudes differ, as LoRA A/B do
shared = rng.standard_normal((3, d))
train = np.concatenate([
    (rng.standard_normal((N, 1)) * shared[m] + rng.standard_normal((N, d)) * 0.7) * scales[m] for m in range(3)
], axis=1).astype(np.float32)
query = np.concatenate([
    (rng.standard_normal((NQ, 1)) * shared[m] + 0.5 + rng.standard_normal((NQ, d)) * 0.7) * scales[m] for m in range(3)
], axis=1).astype(np.float32)
np.save(OUT / "scores_train.npy", train)
np.save(OUT / "scores_query.npy", query)


def split(rows):
    return {name: torch.from_numpy(rows[:, k * d:(k + 1) * d].copy()) for k, name in enumerate(modules)}


def second_moment(rows):
    return {n: (g.T @ g) / g.shape[0] for n, g in split(rows).items()}  # fp32, as Bergson accumulates


Hq, Hi = second_moment(query), second_moment(train)
np.save(OUT / "scores_hquery.npy", np.stack([Hq[n].numpy() for n in modules]))
np.save(OUT / "scores_hindex.npy", np.stack([Hi[n].numpy() for n in modules]))


def mixed_h(mode, mc=0.99):
    if mode == "none":
        return None
    if mode == "query":
        return Hq
    if mode == "index":
        return Hi
    return {n: Hq[n] * mc + Hi[n] * (1 - mc) for n in modules}


def bergson2(mode, unit_normalize):
    H = mixed_h(mode)
    # reduce (mean, unit_normalize as given) the way `bergson reduce` does without a hessian
    q = normalize_and_aggregate_grads(split(query), modules, unit_normalize=unit_normalize,
                                      device=torch.device("cpu"), aggregate_grads="mean")
    transform = None
    if H is not None:
        pre = DensePreconditioner({n: invert_psd_matrix(H[n], "damped_inverse", 0.1,
                                                        power=-0.5 if unit_normalize else -1.0) for n in modules})
        q = pre.apply(q)
        if unit_normalize:
            transform = _make_split_hessian(pre.h_inv, modules, torch.device("cpu"), torch.float32)
    writer = InMemorySequenceScoreWriter(N, 1)
    scorer = Scorer(q, modules, writer, torch.device("cpu"), torch.float32, unit_normalize=unit_normalize,
                    score_mode="individual", index_transform=transform)
    scorer(list(range(N)), split(train))
    return writer.scores[:, 0].numpy().astype(np.float32), torch.cat([q[n] for n in modules], 1)[0].numpy()


def bergson05(mode, unit_normalize):
    """attribution.md 7.1 (reference formula, fp64 eigh -> fp32 inverse -> fp32 products)."""
    eps = np.float32(np.finfo(np.float32).eps)
    if unit_normalize:
        norms = np.linalg.norm(query.astype(np.float64), axis=1, keepdims=True).astype(np.float32)
        qbar = (query / (norms + eps)).mean(0, dtype=np.float32)
    else:
        qbar = query.mean(0, dtype=np.float32)
    H = mixed_h(mode)
    q = qbar.copy()
    if H is not None:
        for k, n in enumerate(modules):
            h = H[n].numpy().astype(np.float64)
            h = h + 0.1 * np.abs(h).mean() * np.eye(d)
            lam, U = np.linalg.eigh(h)
            K = ((U / lam) @ U.T).astype(np.float32)
            q[k * d:(k + 1) * d] = qbar[k * d:(k + 1) * d] @ K
    q = q / np.float32(np.linalg.norm(q.astype(np.float64)))
    t = train
    if unit_normalize:
        t = train / np.linalg.norm(train.astype(np.float64), axis=1, keepdims=True).astype(np.float32)
    return (t @ q).astype(np.float32), q


cases = []
for semantics, fn in [("bergson-2", bergson2), ("bergson-0.5", bergson05)]:
    for mode in ["none", "query", "index", "mixed"]:
        for unit in ([True, False] if mode in ("none", "mixed") else [True]):
            s, q = fn(mode, unit)
            f = f"scores_{semantics}_{mode}_{'unit' if unit else 'raw'}.npy"
            np.save(OUT / f, s)
            cases.append({"semantics": semantics, "mode": mode, "unit_normalize": unit, "file": f,
                          "mixing_coefficient": 0.99, "damping": 0.1})
            print(semantics, mode, unit, np.argsort(-s)[:5], s[:3])
(OUT / "scores_cases.json").write_text(json.dumps({"modules": modules, "d": d, "cases": cases}, indent=1) + "\n")
