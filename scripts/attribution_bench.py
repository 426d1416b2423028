#!/usr/bin/env python3
"""pp-score benchmark helpers (numpy only).

    attribution_bench.py make OUTDIR ROWS        write OUTDIR/train.ppt (ROWS per-example rows, the
                                                 Gemma-3 270M LoRA layout: 18 layers x 7 targets x
                                                 A/B, p = 32: 258,048 floats = 1 MB per row) and
                                                 OUTDIR/query.ppt (one reduced row)
    attribution_bench.py score OUTDIR OUT.npy    numpy reference of `pp-score --semantics bergson-0.5
                                                 --preconditioning none`: cosine of every train row with
                                                 the query, streamed in chunks from a memory map
"""
import json
import os
import struct
import sys
import time

import numpy as np

TARGETS = [("q_proj", "self_attn", 1024, 640), ("k_proj", "self_attn", 256, 640), ("v_proj", "self_attn", 256, 640),
           ("o_proj", "self_attn", 640, 1024), ("gate_proj", "mlp", 2048, 640), ("up_proj", "mlp", 2048, 640),
           ("down_proj", "mlp", 640, 2048)]
LAYERS, RANK, P = 18, 16, 32


def info(kind):
    modules = []
    for layer in range(LAYERS):
        for name, parent, out, inp in TARGETS:
            base = f"model.model.layers.{layer}.{parent}.{name}"
            modules.append({"name": base + ".lora_A.default", "out_features": RANK, "in_features": inp})
            modules.append({"name": base + ".lora_B.default", "out_features": out, "in_features": RANK})
    d = {"kind": kind, "layout": {"modules": modules,
                                  "projection": {"dim": P, "generator": "philox4x32-10-rademacher", "scale": "jl"}},
         "loss_reduction": "mean", "adapter_sha256": "bench", "model_sha256": "bench"}
    if kind == "reduced":
        d.update({"unit_normalized": True, "reduce_semantics": "bergson-0.5", "reduced_rows": 1})
    return d, len(modules) * P * P


def header(manifest, width):
    m = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    return b"\x89PPT\r\n\x1a\n" + struct.pack("<IIIQ", 1, 0, 1, width) + struct.pack("<I", len(m)) + m


def make(outdir, rows):
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(0)
    d, width = info("per-example")
    shared = rng.standard_normal(width, dtype=np.float32)
    with open(os.path.join(outdir, "train.ppt.tmp"), "wb") as f:
        f.write(header({"attribution": d, "tool": "attribution_bench.py"}, width))
        for r in range(rows):
            v = rng.standard_normal(width, dtype=np.float32) + np.float32(rng.standard_normal()) * shared
            f.write(b"ROW\0" + struct.pack("<I", 16) + f"{r * 2654435761 % 2**64:016x}".encode() + v.tobytes())
        f.write(b"END\0" + struct.pack("<Q", rows))
    os.replace(os.path.join(outdir, "train.ppt.tmp"), os.path.join(outdir, "train.ppt"))
    dq, _ = info("reduced")
    q = (shared + rng.standard_normal(width, dtype=np.float32)) / np.float32(np.sqrt(width))
    with open(os.path.join(outdir, "query.ppt"), "wb") as f:
        f.write(header({"attribution": dq, "tool": "attribution_bench.py"}, width))
        f.write(b"ROW\0" + struct.pack("<I", 4) + b"mean" + q.astype(np.float32).tobytes())
        f.write(b"END\0" + struct.pack("<Q", 1))


def read_single(path):
    data = open(path, "rb").read()
    (ndim,) = struct.unpack_from("<I", data, 16)
    (width,) = struct.unpack_from("<Q", data, 20)
    (mlen,) = struct.unpack_from("<I", data, 20 + 8 * ndim)
    pos = 24 + 8 * ndim + mlen
    (idlen,) = struct.unpack_from("<I", data, pos + 4)
    return np.frombuffer(data, dtype="<f4", count=width, offset=pos + 8 + idlen)


def score(outdir, out):
    t0 = time.perf_counter()
    q = read_single(os.path.join(outdir, "query.ppt")).astype(np.float32)
    q = q / np.float32(np.linalg.norm(q))
    path = os.path.join(outdir, "train.ppt")
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    (width,) = struct.unpack_from("<Q", raw, 20)
    (mlen,) = struct.unpack_from("<I", raw, 28)
    start = 32 + mlen
    rec = np.dtype([("marker", "S4"), ("idlen", "<u4"), ("id", "S16"), ("v", "<f4", (width,))])
    rows = (len(raw) - start - 12) // rec.itemsize
    table = np.memmap(path, dtype=rec, mode="r", offset=start, shape=(rows,))
    scores = np.empty(rows, np.float32)
    for a in range(0, rows, 64):
        v = table["v"][a:a + 64]
        scores[a:a + 64] = (v @ q) / np.linalg.norm(v, axis=1)
    np.save(out, scores)
    dt = time.perf_counter() - t0
    gb = rows * width * 4 / 1e9
    print(f"numpy reference: {rows} rows, {gb:.2f} GB in {dt:.2f} s = {gb / dt:.2f} GB/s")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "score":
        score(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
