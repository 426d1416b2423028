"""Makes Tests/Fixtures/io/reference.safetensors with the reference safetensors writer (torch backend).

Run with the reference env: .cache/refenv/bin/python scripts/reference/make_io_fixtures.py
The Swift tests read it back and check that SafetensorsWriter reproduces it byte for byte.
"""
import pathlib

import torch
from safetensors.torch import save_file

torch.set_num_threads(1)
out = pathlib.Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "io" / "reference.safetensors"
tensors = {
    "layer.weight": torch.tensor([[1.5, -2.25, 0.1], [3.0e-8, 1e30, -0.0]], dtype=torch.float32),
    "layer.bias": torch.tensor([0.1, -1.5, 65504.0], dtype=torch.float16),
    "emb": torch.tensor([[0.1, 3.0e38], [-2.0, 1.0 / 3.0]], dtype=torch.bfloat16),
    "ids": torch.tensor([0, -1, 2**40], dtype=torch.int64),
    "pos": torch.tensor([7, -8], dtype=torch.int32),
    "mask": torch.tensor([True, False, True]),
    "bytes": torch.tensor([0, 255], dtype=torch.uint8),
    "empty": torch.zeros((0, 3), dtype=torch.float32),
}
save_file(tensors, str(out), metadata={"format": "pt"})
print(out, out.stat().st_size)
