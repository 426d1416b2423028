#!/usr/bin/env python3
"""Reads a playpen tensor stream (.ppt) with numpy; the format is in schemas/tensor-stream.md.

    import ppt; ids, rows, manifests = ppt.read("train_grads.ppt")   # rows: (n, *row_shape) float32
    python3 scripts/ppt.py FILE          # prints a JSON summary

Concatenated shards (cat a.ppt b.ppt) read as one stream. zstd-compressed files are not handled
here: decompress them first (zstd -d).
"""
import json
import struct
import sys

import numpy as np

SEGMENT, ROW, END = b"\x89PPT\r\n\x1a\n", b"ROW\0", b"END\0"
DTYPES = {0: np.dtype("<f4"), 1: np.dtype("<f2"), 2: None}  # 2 = bfloat16, widened by hand


def read(path):
    data = memoryview(open(path, "rb").read())
    pos, ids, rows, manifests, shape, dtype = 0, [], [], [], None, None

    def take(n):
        nonlocal pos
        if pos + n > len(data):
            raise ValueError(f"{path}: truncated tensor stream after {len(ids)} rows")
        pos += n
        return data[pos - n:pos]

    while pos < len(data):
        if bytes(take(8)) != SEGMENT:
            raise ValueError(f"{path}: not a tensor stream at byte {pos - 8}")
        version, code, ndim = struct.unpack("<III", take(12))
        if version != 1 or code not in DTYPES:
            raise ValueError(f"{path}: unsupported version {version} or dtype {code}")
        seg_shape = struct.unpack(f"<{ndim}Q", take(8 * ndim))
        (mlen,) = struct.unpack("<I", take(4))
        manifests.append(json.loads(bytes(take(mlen))))
        if shape is not None and (seg_shape, code) != (shape, dtype):
            raise ValueError(f"{path}: segment {len(manifests)} differs in dtype or row shape")
        shape, dtype = seg_shape, code
        size = int(np.prod(shape)) * (4 if code == 0 else 2)
        seg_rows = 0
        while True:
            marker = bytes(take(4))
            if marker == END:
                (n,) = struct.unpack("<Q", take(8))
                if n != seg_rows:
                    raise ValueError(f"{path}: segment declares {n} rows, holds {seg_rows}")
                break
            if marker != ROW:
                raise ValueError(f"{path}: corrupt record marker at byte {pos - 4}")
            (idlen,) = struct.unpack("<I", take(4))
            ids.append(bytes(take(idlen)).decode("utf-8"))
            raw = np.frombuffer(take(size), dtype=np.uint16 if code == 2 else DTYPES[code])
            rows.append((raw.astype(np.uint32) << 16).view(np.float32) if code == 2 else raw.astype(np.float32))
            seg_rows += 1
    if shape is None:
        raise ValueError(f"{path}: empty file")
    matrix = np.stack(rows).reshape((len(rows),) + tuple(shape)) if rows else np.zeros((0,) + tuple(shape), np.float32)
    return ids, matrix, manifests


if __name__ == "__main__":
    ids, rows, manifests = read(sys.argv[1])
    print(json.dumps({"rows": len(ids), "row_shape": list(rows.shape[1:]), "ids": ids,
                      "values": rows.reshape(len(ids), -1).tolist(), "manifests": manifests}))
