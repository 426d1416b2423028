#!/usr/bin/env python3
"""Moves per-example gradients between pp-grad's tensor stream (.ppt) and a Bergson 2.5 index directory.

A Bergson index (bergson.data.create_index / load_gradients) is `gradients.bin`, a flat C-order
[num_grads, sum(grad_sizes)] array of `base_dtype`, plus `info.json` with `grad_sizes` (module name ->
width, in column order). pp-grad's rows are the same numbers in the same order: modules named as Bergson
names them (model.model.layers.L.self_attn.q_proj.lora_A.default, ...), each the p x p projected gradient
flattened row-major, so the conversion only moves bytes and checks the layout.

    # pp-grad's rows -> a Bergson index (score them with Bergson's scorer; row ids go to row_ids.json)
    python3 scripts/bergson-index.py export runs/demo/train_grads.ppt runs/demo/bergson_train_index
    # a Bergson index (e.g. collected on a GPU with our adapter) -> a stream pp-score reads
    python3 scripts/bergson-index.py import runs/demo/bergson_train_index --header-from runs/demo/query_grads.ppt \
        --row-ids runs/demo/data/train.jsonl.zst -o runs/demo/train_grads_bergson.ppt

`import` writes the rows under the header (layout, projection, loss reduction, adapter and model sha256) of
--header-from, a pp-grad stream of the same adapter and base model (the query stream will do): pp-score
refuses streams whose headers differ, and that check is only meaningful when Bergson really ran with that
adapter, model, projection (dim, seed, scaling) and loss reduction. The script checks module names, order
and widths, and the row count. --row-ids is a JSON list of ids, or pp-filter records (JSONL, .zst allowed:
zstandard or the zstd command) whose row_id values are taken in order (Bergson's rows are in dataset order).
Numbers only: needs numpy.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ppt  # noqa: E402

ROW, END = b"ROW\0", b"END\0"


def die(msg):
    sys.exit(f"error: {msg}")


def layout_of(manifest, path):
    try:
        att = manifest["attribution"]
        modules = att["layout"]["modules"]
        p = att["layout"]["projection"]["dim"]
    except (KeyError, TypeError):
        die(f"{path}: the stream header has no attribution layout (is it a pp-grad stream?)")
    return [(m["name"], p * p if p > 0 else m["out_features"] * m["in_features"]) for m in modules]


def first_header(path):
    """The bytes of the first segment's header (magic to end of manifest) and its parsed manifest."""
    with open(path, "rb") as f:
        head = f.read(20)
        if head[:8] != ppt.SEGMENT:
            die(f"{path}: not a tensor stream (.ppt); decompress .ppt.zst first")
        (ndim,) = struct.unpack("<I", head[16:20])
        rest = f.read(8 * ndim + 4)
        (mlen,) = struct.unpack("<I", rest[-4:])
        manifest = f.read(mlen)
    header = bytearray(head + rest + manifest)
    header[12:16] = struct.pack("<I", 0)  # rows are written as f32
    return bytes(header), json.loads(manifest)


def export(args):
    ids, rows, manifests = ppt.read(args.ppt)
    layout = layout_of(manifests[0], args.ppt)
    for k, m in enumerate(manifests[1:], 2):
        if layout_of(m, args.ppt) != layout:
            die(f"{args.ppt}: segment {k} has another gradient layout than segment 1")
    rows = rows.reshape(len(ids), -1)
    width = sum(w for _, w in layout)
    if rows.shape[1] != width:
        die(f"{args.ppt}: rows hold {rows.shape[1]} values, the layout {width}")
    if os.path.exists(args.out_dir):
        die(f"{args.out_dir}: exists; choose a new directory")
    parent = os.path.dirname(os.path.abspath(args.out_dir))
    tmp = tempfile.mkdtemp(dir=parent, prefix=".bergson-index-")
    try:
        np.ascontiguousarray(rows, dtype=np.float32).tofile(os.path.join(tmp, "gradients.bin"))
        info = {"attribute_tokens": False, "num_items": len(ids), "num_grads": len(ids),
                "grad_sizes": {n: w for n, w in layout}, "base_dtype": "float32"}
        with open(os.path.join(tmp, "info.json"), "w") as f:
            json.dump(info, f, indent=2)
        with open(os.path.join(tmp, "row_ids.json"), "w") as f:
            json.dump(ids, f)
        os.rename(tmp, args.out_dir)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    print(f"{args.out_dir}: {len(ids)} rows x {width} ({len(layout)} modules), float32", file=sys.stderr)


def read_row_ids(path):
    if path.endswith(".json"):
        with open(path) as f:
            return [str(x) for x in json.load(f)]
    raw = open(path, "rb").read()
    if raw[:4] == b"\x28\xb5\x2f\xfd":
        try:
            import zstandard
            raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
        except ImportError:
            raw = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    ids = []
    for n, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                ids.append(str(json.loads(line)["row_id"]))
            except (ValueError, KeyError, TypeError):
                die(f"{path}:{n}: expected a JSON object with \"row_id\"")
    return ids


def import_index(args):
    try:
        with open(os.path.join(args.index, "info.json")) as f:
            info = json.load(f)
        sizes = info["grad_sizes"]
        n = info["num_grads"]
    except (OSError, ValueError, KeyError) as e:
        die(f"{args.index}/info.json: not a Bergson index ({e})")
    if info.get("attribute_tokens"):
        die(f"{args.index}: a per-token index; pp-score takes one row per example")
    dtype = np.dtype(info["base_dtype"]) if "base_dtype" in info else np.dtype(info["dtype"]["formats"][0]).base
    header, manifest = first_header(args.header_from)
    layout = layout_of(manifest, args.header_from)
    index_layout = list(sizes.items())
    if index_layout != layout:
        diff = next(((a, b) for a, b in zip(index_layout, layout) if a != b), None)
        die(f"{args.index}: module layout differs from {args.header_from}: "
            + (f"{diff[0]} vs {diff[1]}" if diff else f"{len(index_layout)} modules vs {len(layout)}"))
    width = sum(sizes.values())
    grads = np.memmap(os.path.join(args.index, "gradients.bin"), dtype=dtype, mode="r", shape=(n, width))
    ids = read_row_ids(args.row_ids)
    if len(ids) != n:
        die(f"{args.row_ids}: {len(ids)} row ids for {n} index rows")
    tmp = args.output + ".tmp"
    try:
        with open(tmp, "wb") as out:
            out.write(header)
            for i, rid in enumerate(ids):
                b = rid.encode("utf-8")
                out.write(ROW + struct.pack("<I", len(b)) + b)
                out.write(np.asarray(grads[i], dtype="<f4").tobytes())
            out.write(END + struct.pack("<Q", n))
        os.replace(tmp, args.output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"{args.output}: {n} rows x {width} from {args.index} ({dtype.name})", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help=".ppt -> Bergson index directory")
    e.add_argument("ppt")
    e.add_argument("out_dir")
    i = sub.add_parser("import", help="Bergson index directory -> .ppt")
    i.add_argument("index")
    i.add_argument("--header-from", required=True, help="a pp-grad stream of the same adapter and model")
    i.add_argument("--row-ids", required=True, help="JSON list of ids, or pp-filter records (JSONL[.zst])")
    i.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    export(args) if args.cmd == "export" else import_index(args)


if __name__ == "__main__":
    main()
