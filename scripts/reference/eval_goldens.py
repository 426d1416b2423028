#!/usr/bin/env python3
"""Goldens for pp-eval (PlaypenEval): word extraction, the game master's guess rule, Wilson intervals.

Runs with the system python3 (re, json, zstandard or the zstd CLI, scipy). Writes Tests/Fixtures/eval/:
  word-extraction.jsonl  {"text", "candidate", "word"}: eval_words.py's extract_guess (original-pipeline.md 7)
  guess-rule.jsonl       {"utterance", "valid", "guess"}: clembench taboo master's guesser validation
  wilson.json            [{"k", "n", "low", "high"}]: scipy.stats.binomtest(k, n).proportion_ci(method="wilson")
Texts: every assistant message and completion of ../shared/data/taboo_real.jsonl.zst (both roles) plus
hand-made edge cases (regex backtracking, Unicode whitespace/case, line breaks).
"""
import json
import re
import string
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / "shared" / "data" / "taboo_real.jsonl.zst"
OUT = ROOT / "Tests/Fixtures/eval"

# eval_words.py, verbatim semantics
_GUESS_RE = re.compile(r"GUESS\s*:\s*([^\n\r]+)", re.IGNORECASE)
_WORD_RE = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def candidate(text):
    m = _GUESS_RE.search(text)
    if m:
        return m.group(1).strip()
    return text.strip().splitlines()[0] if text.strip() else ""


def extract_guess(text):
    w = _WORD_RE.search(candidate(text).lower())
    return w.group(0) if w else ""


# clembench taboo/master.py, guesser side
def guess_rule(utterance):
    if not utterance.startswith("GUESS:"):
        return False, None
    g = utterance.replace("GUESS:", "").strip().lower()
    g = g.translate(str.maketrans("", "", string.punctuation))
    return True, g.lower()


def rows():
    raw = subprocess.run(["zstd", "-dc", str(DATA)], check=True, capture_output=True).stdout
    for line in raw.decode("utf-8").splitlines():
        if line.strip():
            yield json.loads(line)


EDGE = [
    "", " ", "\n", "GUESS:", "GUESS:\n", "GUESS: \n", "GUESS:  ", "GUESS:\n\nfoo", "GUESS:\r\nbar", "GUESS : x",
    "guess: Winter", "Guess:\tSnow-ball's", "GUESSGUESS: a", "GUESS GUESS: b", "GUESS:\nGUESS: c", "GUESS:\n",
    "my GUESS:   --", "GUESS: -word", "GUESS: can't-stop'", "GUESS: a--b", "GUESS: x'y-z", "GUESS: '''",
    "GUEſS: longs", "GUESſ: s2", "gueß: no", "GUESS\u00a0: nbsp", "GUESS:\u2003em space", "GUESS:\u2028sep",
    "GUESS:\x0bvt", "GUESS:\x1cfs", "\x85GUESS missing colon\nsecond", "first\u2028second", "a\x1cb", "a\x0cb",
    "  \u3000 İstanbul", "KELVIN \u212a", "\u212aelvin", "ÀÉÎ plain", "Σ word", "12 dozen", "-leading",
    "GUESS: Dragonfly", "GUESS: **Mosquito**", "I think GUESS: bird.", "CLUE: not a guess\nline two",
    "\n\n  \nGUESS: late", "GUESS:   \r\n   \n", "GUESS:\t\t\rx", "ＧＵＥＳＳ: fullwidth", "GUESS: ŉ", "GUESS: ǰ",
    "GUESS: fly\nGUESS: bug", "x GUESS:y", "GUESS::z", "GUESS : : w", "GUESS:\u200bzw", "GUESS: \ud7ff",
]

GUESS_EDGE = [
    "GUESS: Winter", "GUESS: winter.", "GUESS:winter", " GUESS: winter", "guess: winter", "GUESS: Dragon-fly",
    "GUESS: GUESS: snow", "GUESS: Snow!\n", "GUESS: ice cream", "GUESS:", "GUESS: İ", "GUESS: don't",
    "GUESS: «winter»", "GUESS: win_ter", "GUESS:\u00a0winter\u00a0", "GUESS: (fly)", "CLUE: x", "",
]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    texts, utterances = [], []
    for r in rows():
        msgs = r["messages"]
        for m in msgs:
            if m["role"] == "assistant":
                texts.append(m["content"])
                utterances.append(m["content"])
        last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
        if last is not None:
            texts.append(msgs[last]["content"].strip())
    seen, uniq = set(), []
    for t in EDGE + texts:
        if t not in seen:
            seen.add(t)
            uniq.append(t)
    with open(OUT / "word-extraction.jsonl", "w", encoding="utf-8") as f:
        for t in uniq:
            f.write(json.dumps({"text": t, "candidate": candidate(t), "word": extract_guess(t)}, ensure_ascii=False) + "\n")
    seen, guesses = set(), []
    for u in GUESS_EDGE + utterances:
        if u not in seen:
            seen.add(u)
            guesses.append(u)
    with open(OUT / "guess-rule.jsonl", "w", encoding="utf-8") as f:
        for u in guesses:
            valid, g = guess_rule(u)
            f.write(json.dumps({"utterance": u, "valid": valid, "guess": g}, ensure_ascii=False) + "\n")

    from scipy.stats import binomtest
    cases = [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (22, 152), (62, 152), (43, 152), (1, 2), (5, 73),
             (40, 73), (499, 1000), (1, 3), (2, 7), (152, 152)]
    out = []
    for k, n in cases:
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        out.append({"k": k, "n": n, "low": float(ci.low), "high": float(ci.high)})
    (OUT / "wilson.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(uniq)} extraction texts, {len(guesses)} guess utterances, {len(out)} Wilson cases -> {OUT}")


if __name__ == "__main__":
    main()
