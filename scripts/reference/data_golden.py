#!/usr/bin/env python3
"""Goldens for the PlaypenData tests (Tests/Fixtures/data/), from the plain-Python reference
scripts/bench/filter_reference.py. Run with a python that has `zstandard` (e.g. .cache/refenv, `make reference-env`):

  python scripts/reference/data_golden.py [path/to/shared/data]

Writes:
  edge_rows.jsonl        hand-made tricky rows (escapes, Unicode whitespace, odd roles, nulls)
  edge_expected.jsonl    the reference's records for them (--game '*' --role '*' --drop-outcome none)
  edge_history.json      history text per edge row
  taboo_real_golden.json per real row: row_id, sha256[:16] of prompt/completion/history, split hash;
                         and sha256 of the reference outputs for the default filter and a 0.2 split.
"""
import hashlib
import io
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts", "bench"))
import filter_reference as ref  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "Fixtures", "data")
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(ROOT), "shared", "data")


def h16(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()[:16]


def split_hash(seed, meta):
    """First 8 bytes (hex) of the task hash behind --val-fraction; task_unit = int(hex, 16) / 2**64."""
    key = f"{seed}\t{meta['game']}\t{meta['experiment']}\t{meta['task_id']}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def meta(**kw):
    m = {"game": "taboo", "experiment": "high_en", "task_id": 7, "player_name": "Player 2",
         "game_role": "WordGuesser", "model": "m", "outcome": "success"}
    m.update(kw)
    return m


def edge_rows():
    rows = []
    # 1. escapes of every kind, a non-BMP character, quotes, backslashes, control characters
    rows.append(({"messages": [
        {"role": "user", "content": "Tab\there \"quoted\" back\\slash \u0001\u001f ctrl \u00e9 \u4e2d \U0001F600 /slash"},
        {"role": "assistant", "content": "  GUESS: caf\u00e9 \U0001F600  \n"}], "meta": meta()}, True))
    # 2. Python-only whitespace at both ends of the prompt and the completion
    rows.append(({"messages": [
        {"role": "user", "content": "\u3000\u2028 lead"},
        {"role": "assistant", "content": "\u00a0\u1680 GUESS: x \u001c\u0085\u202f"},
        {"role": "user", "content": "tail \u2029\u205f\t\r\n\u000b\u000c"},
        {"role": "assistant", "content": "\u2000\u200aGUESS: y\u3000"}], "meta": meta(outcome=None)}, False))
    # 3. unusual roles, last assistant not last message, two user messages in a row
    rows.append(({"messages": [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "GUESS: one"},
        {"role": "user", "content": "after"}], "meta": meta(player_name=None, model=None)}, True))
    # 4. no assistant message
    rows.append(({"messages": [{"role": "user", "content": "only user"}], "meta": meta()}, False))
    # 5. empty completion after strip
    rows.append(({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " \n\t"}],
                  "meta": meta(outcome="failure")}, False))
    # 6. empty messages
    rows.append(({"messages": [], "meta": meta()}, False))
    # 7. whitespace-only content before the assistant, extra keys, meta keys reordered, big task_id
    rows.append(({"extra": [1, {"x": None}], "meta": {"outcome": "aborted", "task_id": 123456789012,
                  "game_role": "WordDescriber", "game": "wordle", "experiment": "e", "model": "M", "player_name": "P",
                  "extra_meta": True},
                  "messages": [{"content": "   ", "role": "user", "x": 1.5e3},
                               {"role": "assistant", "content": "CLUE: ok"}]}, True))
    # 8. missing optional meta keys (player_name, model, outcome absent), negative task id, role case
    rows.append(({"messages": [{"role": "User", "content": "hi"}, {"role": "assistant", "content": "yo"}],
                  "meta": {"game": "taboo", "experiment": "low_en", "task_id": -3, "game_role": "WordGuesser"}}, False))
    lines = []
    for i, (row, ascii_) in enumerate(rows):
        if i % 3 == 0:
            text = json.dumps(row, ensure_ascii=ascii_)  # default ", " / ": " separators
        elif i % 3 == 1:
            text = json.dumps(row, ensure_ascii=ascii_, separators=(",", ":"))
        else:
            text = json.dumps(row, ensure_ascii=ascii_, indent=None, separators=(" , ", " : "))
        lines.append(text)
    return rows, lines


def main():
    os.makedirs(OUT, exist_ok=True)
    rows, lines = edge_rows()
    with open(os.path.join(OUT, "edge_rows.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n\n")  # a trailing blank line is skipped
    reference = [sys.executable, os.path.join(ROOT, "scripts", "bench", "filter_reference.py")]
    subprocess.run(reference + [os.path.join(OUT, "edge_rows.jsonl"), "-o", os.path.join(OUT, "edge_expected.jsonl"),
                                "--game", "*", "--role", "*", "--drop-outcome", "none"], check=True)
    with open(os.path.join(OUT, "edge_history.json"), "w", encoding="utf-8") as f:
        json.dump([ref.history_text(r["messages"]) for r, _ in rows], f, ensure_ascii=True, indent=0)

    real = os.path.join(SHARED, "taboo_real.jsonl.zst")
    per_row = []
    for line in ref.open_lines(real):
        row = json.loads(line)
        p, c = ref.prompt_completion(row["messages"])
        per_row.append({"row_id": ref.row_id(row), "prompt": h16(p), "completion": h16(c),
                        "history": h16(ref.history_text(row["messages"])),
                        "split_hash_seed0": split_hash(0, row["meta"])})
    outputs = {}
    for name, args in [("default", []),
                       ("val0.2_train", ["--val-fraction", "0.2", "--select", "train"]),
                       ("val0.2_validation", ["--val-fraction", "0.2", "--select", "validation"])]:
        res = subprocess.run(reference + [real, "-o", "-"] + args, check=True, capture_output=True)
        outputs[name] = {"sha256": hashlib.sha256(res.stdout).hexdigest(), "counts": json.loads(res.stderr)}
    with open(os.path.join(OUT, "taboo_real_golden.json"), "w") as f:
        json.dump({"rows": per_row, "outputs": outputs}, f, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
