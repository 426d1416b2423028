"""Golden projection matrices from Bergson 2.5.1 (Philox) and the 0.5.1 recipe (PCG64).

Writes Tests/Fixtures/attribution/projection_*.npy and projection_cases.json.
Run: .cache/refenv/bin/python scripts/reference/attribution_projection.py
"""
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)
from bergson.collector.collector import create_module_projection_matrix  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "attribution"
OUT.mkdir(parents=True, exist_ok=True)

# (module name, side, rows = p, cols = module dim, scale, seed)
CASES = [
    ("model.model.layers.0.self_attn.q_proj.lora_A.default", "left", 32, 16, "jl", None),
    ("model.model.layers.0.self_attn.q_proj.lora_A.default", "right", 32, 640, "jl", None),
    ("model.model.layers.17.mlp.down_proj.lora_B.default", "left", 32, 640, "row_norm", None),
    ("model.model.layers.17.mlp.down_proj.lora_B.default", "right", 32, 16, "jl", 7),
    ("model.model.layers.3.mlp.gate_proj.lora_A.default", "right", 8, 300, "row_norm", 42),
    ("x", "left", 5, 129, "jl", None),
]


def pcg64_v1(identifier: str, m: int, n: int) -> np.ndarray:
    """Bergson 0.5.1's matrix before row normalisation (attribution.md 4.1)."""
    seed = int.from_bytes(hashlib.md5(identifier.encode()).digest(), "big") % (2**63 - 1)
    data = np.random.Generator(np.random.PCG64(seed)).bytes(math.ceil(m * n / 8))
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: m * n].reshape(m, n)
    return (2.0 * bits - 1.0).astype(np.float32)


cases = []
for k, (name, side, rows, cols, scale, seed) in enumerate(CASES):
    A = create_module_projection_matrix(
        name, side, rows, cols, torch.float32, torch.device("cpu"), "rademacher", scale, seed
    ).numpy()
    np.save(OUT / f"projection_philox_{k}.npy", A)
    ident = f"{name}/{side}" + (f"/seed{seed}" if seed is not None else "")
    cases.append({"file": f"projection_philox_{k}.npy", "module": name, "side": side, "rows": rows,
                  "cols": cols, "scale": scale, "seed": seed, "identifier": ident,
                  "md5": hashlib.md5(ident.encode()).hexdigest()})

v1 = []
for k, (ident, m, n) in enumerate([
    ("model.model.layers.0.self_attn.q_proj.lora_A.default/left", 2, 16),
    ("model.model.layers.0.self_attn.q_proj.lora_A.default/right", 32, 640),
    ("y", 3, 37),
]):
    A = pcg64_v1(ident, m, n)
    A = A / np.linalg.norm(A, axis=1, keepdims=True).astype(np.float32)
    np.save(OUT / f"projection_pcg64_{k}.npy", A.astype(np.float32))
    v1.append({"file": f"projection_pcg64_{k}.npy", "identifier": ident, "rows": m, "cols": n, "scale": "row_norm"})

(OUT / "projection_cases.json").write_text(json.dumps({"philox": cases, "pcg64": v1}, indent=1) + "\n")
print("wrote", len(cases) + len(v1), "matrices")
