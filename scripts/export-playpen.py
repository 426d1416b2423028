#!/usr/bin/env python3
"""Export the Hugging Face dataset colab-potsdam/playpen-data (config `interactions`) to JSON Lines
(zstd), one file per split, in the row format pp-filter reads (playpen-data.md sections 1.2 and 6):

    {"messages": [{"role": ..., "content": ...}, ...], "meta": {"game", "experiment", "task_id",
     "player_name", "game_role", "model", "outcome"}}

Needs internet access and `pip install datasets zstandard` (huggingface_hub comes with datasets).

    python3 scripts/export-playpen.py --out-dir data/ [--revision <commit>] [--level 19]

writes data/playpen-interactions-train.jsonl.zst, data/playpen-interactions-validation.jsonl.zst and
data/playpen-interactions.manifest.json (dataset, resolved revision, row counts, sha256 per file).
Pin --revision for reproducible runs: the dataset card has been seen with different split sizes.
Then, e.g.:

    pp-filter data/playpen-interactions-train.jsonl.zst --split train -o runs/full/data/train.jsonl.zst
"""
import argparse
import hashlib
import json
import os
import sys

DATASET = "colab-potsdam/playpen-data"
META_KEYS = ("game", "experiment", "task_id", "player_name", "game_role", "model", "outcome")


def resolve_revision(revision):
    """The commit sha the revision (branch, tag or None = main) points to, or None if unknown."""
    try:
        from huggingface_hub import HfApi
        return HfApi().dataset_info(DATASET, revision=revision).sha
    except Exception as e:  # offline mirrors, old hub versions
        print(f"warning: cannot resolve the dataset revision: {e}", file=sys.stderr)
        return None


def row_json(row):
    messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    meta = {k: row["meta"].get(k) for k in META_KEYS}
    if meta["task_id"] is not None:
        meta["task_id"] = int(meta["task_id"])
    return json.dumps({"messages": messages, "meta": meta}, ensure_ascii=False)


def export_split(ds, path, level):
    import zstandard
    tmp = path + ".tmp"
    digest = hashlib.sha256()
    rows = 0

    class HashingFile:
        def __init__(self, f):
            self.f = f

        def write(self, b):
            digest.update(b)
            return self.f.write(b)

    with open(tmp, "wb") as raw:
        with zstandard.ZstdCompressor(level=level).stream_writer(HashingFile(raw), closefd=False) as out:
            for row in ds:
                out.write(row_json(row).encode("utf-8") + b"\n")
                rows += 1
    os.replace(tmp, path)
    return rows, digest.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default="data")
    ap.add_argument("--revision", default=None, help="dataset commit, branch or tag (default: main)")
    ap.add_argument("--config", default="interactions")
    ap.add_argument("--splits", nargs="+", default=["train", "validation"])
    ap.add_argument("--level", type=int, default=19, help="zstd level")
    a = ap.parse_args()

    from datasets import load_dataset

    os.makedirs(a.out_dir, exist_ok=True)
    revision = resolve_revision(a.revision)
    ds = load_dataset(DATASET, a.config, revision=revision or a.revision)
    files = {}
    for split in a.splits:
        path = os.path.join(a.out_dir, f"playpen-{a.config}-{split}.jsonl.zst")
        rows, sha = export_split(ds[split], path, a.level)
        files[split] = {"path": os.path.basename(path), "rows": rows, "sha256": sha}
        print(f"{path}: {rows} rows, sha256 {sha}", file=sys.stderr)
    manifest = {"tool": "scripts/export-playpen.py", "dataset": DATASET, "config": a.config,
                "requested_revision": a.revision, "revision": revision, "files": files}
    with open(os.path.join(a.out_dir, f"playpen-{a.config}.manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
