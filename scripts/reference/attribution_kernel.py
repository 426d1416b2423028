"""Golden per-example projected gradients: torch autograd on small linear layers, projected with
Bergson 2.5.1's own matrices (P = L · dL/dW · Rᵀ, flattened row-major, row = output side).

Writes Tests/Fixtures/attribution/kernel_*.npy and kernel_cases.json.
Run: .cache/refenv/bin/python scripts/reference/attribution_kernel.py
"""
import json
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)
from bergson.collector.collector import create_module_projection_matrix  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "attribution"
torch.manual_seed(0)
lengths = [5, 9, 1, 3]
modules = [  # name, in, out (an A-like and a B-like LoRA factor)
    ("model.model.layers.0.self_attn.q_proj.lora_A.default", 24, 4),
    ("model.model.layers.0.self_attn.q_proj.lora_B.default", 4, 40),
]
cases = {"lengths": lengths, "modules": [], "projections": []}
for mi, (name, fin, fout) in enumerate(modules):
    W = torch.randn(fout, fin, dtype=torch.float64, requires_grad=True)
    xs, gs, grads = [], [], []
    for n, T in enumerate(lengths):
        x = torch.randn(T, fin, dtype=torch.float64)
        y = x @ W.T
        y.retain_grad()
        target = torch.randn(T, fout, dtype=torch.float64)
        loss = (torch.tanh(y) * target).sum() / T
        W.grad = None
        loss.backward()
        xs.append(x)
        gs.append(y.grad.clone())
        grads.append(W.grad.clone())  # [out, in] = sum_t g_t x_tᵀ
    X = torch.cat(xs).float().numpy()
    G = torch.cat(gs).float().numpy()
    np.save(OUT / f"kernel_x_{mi}.npy", X)
    np.save(OUT / f"kernel_g_{mi}.npy", G)
    np.save(OUT / f"kernel_full_{mi}.npy", torch.stack(grads).reshape(len(lengths), -1).float().numpy())
    cases["modules"].append({"name": name, "in": fin, "out": fout, "x": f"kernel_x_{mi}.npy",
                             "g": f"kernel_g_{mi}.npy", "full": f"kernel_full_{mi}.npy"})
    for p, scale, seed in [(8, "jl", None), (32, "row_norm", 3)]:
        L = create_module_projection_matrix(name, "left", p, fout, torch.float64, "cpu", "rademacher", scale, seed)
        R = create_module_projection_matrix(name, "right", p, fin, torch.float64, "cpu", "rademacher", scale, seed)
        P = torch.stack([L @ g @ R.T for g in grads]).reshape(len(lengths), -1).float().numpy()
        f = f"kernel_proj_{mi}_p{p}.npy"
        np.save(OUT / f, P)
        cases["projections"].append({"module": mi, "p": p, "scale": scale, "seed": seed, "file": f})
(OUT / "kernel_cases.json").write_text(json.dumps(cases, indent=1) + "\n")
print("ok")
