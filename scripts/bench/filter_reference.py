#!/usr/bin/env python3
"""Plain-Python reference for pp-filter: the same filtering and conversion with json + zstandard.

Used by the benchmark (`make bench-filter`) and to make the goldens of the PlaypenData tests.
Output lines are byte-identical to pp-filter's for the same options.

  filter_reference.py rows.jsonl.zst -o examples.jsonl.zst [--game taboo] [--role WordGuesser]
      [--drop-outcome aborted] [--split train | --val-fraction 0.2 --seed 0] [--select train]
"""
import argparse
import hashlib
import io
import json
import sys

META_KEYS = ("game", "experiment", "task_id", "player_name", "game_role", "model", "outcome")


def dumps(obj, sort_keys=False):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)


def canonical(row):
    """What row_id hashes: messages (role, content) and the 7 meta keys, sorted keys, compact."""
    msgs = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    meta = {k: row["meta"].get(k) for k in META_KEYS}
    return dumps({"messages": msgs, "meta": meta}, sort_keys=True)


def row_id(row):
    return hashlib.sha256(canonical(row).encode("utf-8")).hexdigest()[:16]


def prompt_completion(messages):
    """original-pipeline.md section 2."""
    a = None
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            a = i
    if a is None:
        return "", ""
    prompt = "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in messages[:a]).strip()
    return prompt, messages[a]["content"].strip()


def history_text(messages):
    """original-pipeline.md section 5.2 (rows with messages)."""
    return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in messages).strip()


def task_unit(seed, meta):
    key = f"{seed}\t{meta['game']}\t{meta['experiment']}\t{meta['task_id']}"
    d = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(d[:8], "big") / 2**64


def open_lines(path):
    raw = sys.stdin.buffer if path == "-" else open(path, "rb")
    head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
    if head == b"\x28\xb5\x2f\xfd":
        import zstandard
        raw = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return io.TextIOWrapper(raw, encoding="utf-8")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inputs", nargs="*", default=["-"])
    ap.add_argument("-o", "--output", default="-")
    ap.add_argument("--game", action="append")
    ap.add_argument("--role", action="append")
    ap.add_argument("--drop-outcome", action="append")
    ap.add_argument("--split")
    ap.add_argument("--val-fraction", type=float)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--select")
    a = ap.parse_args()
    games = set(a.game or ["taboo"])
    roles = set(a.role or ["WordGuesser"])
    drop = set(a.drop_outcome or ["aborted"])
    counts = dict(read=0, kept=0, wrong_game=0, wrong_role=0, dropped_outcome=0,
                  no_assistant_message=0, other_split=0, empty_completion=0)

    if a.output == "-":
        sink = sys.stdout.buffer
    else:
        sink = open(a.output, "wb")
    out = sink
    if a.output.endswith(".zst"):
        import zstandard
        out = zstandard.ZstdCompressor(level=3).stream_writer(sink)

    for path in a.inputs:
        for line in open_lines(path):
            if not line.strip():
                continue
            row = json.loads(line)
            meta = row["meta"]
            counts["read"] += 1
            if "*" not in games and meta["game"] not in games:
                counts["wrong_game"] += 1
                continue
            if "*" not in roles and meta["game_role"] not in roles:
                counts["wrong_role"] += 1
                continue
            outcome = meta.get("outcome")
            if (outcome is None and "null" in drop) or (outcome is not None and outcome in drop):
                counts["dropped_outcome"] += 1
                continue
            msgs = row["messages"]
            if not any(m["role"] == "assistant" for m in msgs):
                counts["no_assistant_message"] += 1
                continue
            if a.val_fraction is not None:
                split = "validation" if task_unit(a.seed, meta) < a.val_fraction else "train"
            else:
                split = a.split or "train"
            if a.select is not None and split != a.select:
                counts["other_split"] += 1
                continue
            prompt, completion = prompt_completion(msgs)
            if completion == "":
                counts["empty_completion"] += 1
                continue
            record = {"row_id": row_id(row), "index": counts["kept"], "split": split,
                      "prompt": prompt, "completion": completion,
                      "messages": [{"role": m["role"], "content": m["content"]} for m in msgs],
                      "meta": {k: meta.get(k) for k in META_KEYS}}
            out.write(dumps(record).encode("utf-8") + b"\n")
            counts["kept"] += 1
    if out is not sink:
        out.close()
    elif sink is not sys.stdout.buffer:
        sink.close()
    print(json.dumps(counts), file=sys.stderr)


if __name__ == "__main__":
    main()
