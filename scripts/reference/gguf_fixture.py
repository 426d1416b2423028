"""Small GGUF fixture with one tensor of each supported ggml type, plus gguf-py's dequantization.

Writes Tests/Fixtures/model/small.gguf (random block bytes with finite f16 scales, a few metadata kinds)
and Tests/Fixtures/model/small-gguf-expected.safetensors (gguf.quants.dequantize of each tensor, f32).
Run: .cache/refenv/bin/python scripts/reference/gguf_fixture.py
"""
import os
import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize
from safetensors.numpy import save_file

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "model")
rng = np.random.default_rng(7)
path = os.path.join(root, "small.gguf")
w = gguf.GGUFWriter(path, "gemma3")
w.add_uint32("test.u32", 7)
w.add_float32("test.f32", 0.5)
w.add_string("test.str", "héllo")
w.add_bool("test.bool", True)
w.add_array("test.arr", [1, 2, 3])
w.add_array("test.strs", ["a", "bc"])
expected = {}

def half_bytes(n):
    return (rng.uniform(-0.1, 0.1, n).astype(np.float16)).view(np.uint8).reshape(n, 2)

rows = 2
for qt, (epb, bpb), offsets in [
    (Q.Q8_0, (32, 34), [0]), (Q.Q4_0, (32, 18), [0]), (Q.Q5_0, (32, 22), [0]),
    (Q.Q4_K, (256, 144), [0, 2]), (Q.Q5_K, (256, 176), [0, 2]), (Q.Q6_K, (256, 210), [208])]:
    nb = rows * 2  # 2 blocks per row
    raw = rng.integers(0, 256, (nb, bpb), dtype=np.uint8)
    for o in offsets:
        raw[:, o:o + 2] = half_bytes(nb)
    raw = raw.reshape(rows, 2 * bpb)
    name = f"t_{qt.name.lower()}"
    w.add_tensor(name, raw, raw_dtype=qt)
    expected[name] = dequantize(raw, qt).astype(np.float32).reshape(rows, 2 * epb)
x = rng.standard_normal((3, 5)).astype(np.float32)
w.add_tensor("t_f32", x); expected["t_f32"] = x
h = rng.standard_normal((3, 4)).astype(np.float16)
w.add_tensor("t_f16", h); expected["t_f16"] = h.astype(np.float32)
b = rng.standard_normal((2, 4)).astype(np.float32)
braw = (b.view(np.uint32) >> 16).astype(np.uint16)
w.add_tensor("t_bf16", braw.view(np.uint8).reshape(2, 8), raw_dtype=Q.BF16)
expected["t_bf16"] = (braw.astype(np.uint32) << 16).view(np.float32)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
save_file({k: np.ascontiguousarray(v) for k, v in expected.items()}, os.path.join(root, "small-gguf-expected.safetensors"))
print(os.path.getsize(path), "bytes;", {k: v.shape for k, v in expected.items()})
