#!/usr/bin/env python3
"""A 320-token BPE tokenizer.json for the tiny random Gemma-3 fixture (Tests/Fixtures/tiny-gemma3, vocab 320),
so that text-in/text-out tools (pp-eval) can run on it in tests. No dependencies; deterministic.

ids 0-3: <pad> <eos> <bos> <unk> (special); 4-259: byte fallback <0x00>..<0xFF>; 260-319: "▁", the characters
of the taboo guesser prompt by frequency, then BPE merges learned greedily on that prompt.
Writes Tests/Fixtures/eval/tiny-tokenizer.json.
"""
import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXT = ("USER: You are playing a collaborative word guessing game in which you have to guess a target word that "
        "another player describes to you.\n\nYou can make one guess at each trial. You win when you guess the target "
        "word. You lose when you cannot guess it in 3 tries.\n\nAfter each trial you will get a new hint from the "
        "other player which starts with CLUE.\n\nMake your guesses by just saying the word using the following "
        "form: GUESS: <a word>\n\nLet us start.\n\n\nCLUE: It's something you might do to a straw.")


def main():
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    vocab = {t: i for i, t in enumerate(specials)}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    text = TEXT.replace(" ", "\u2581")
    chars = [c for c, _ in sorted(Counter(text).items(), key=lambda kv: (-kv[1], kv[0])) if c != "\n"]
    for c in ["\u2581"] + chars:
        if c not in vocab and len(vocab) < 290:
            vocab[c] = len(vocab)
    words = [list(w) for w in text.replace("\n", "\u2581").split("\u2581") if w]
    words = [["\u2581"] + w for w in words]
    merges = []
    while len(vocab) < 320:
        pairs = Counter()
        for w in words:
            for a, b in zip(w, w[1:]):
                if a in vocab and b in vocab:
                    pairs[(a, b)] += 1
        if not pairs:
            break
        (a, b), _ = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(f"{a} {b}")
        vocab[a + b] = len(vocab)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if w[i] == a and w[i + 1] == b:
                    w[i:i + 2] = [a + b]
                else:
                    i += 1
    tok = {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": t, "special": True} for i, t in enumerate(specials)],
        "model": {"type": "BPE", "byte_fallback": True, "vocab": vocab, "merges": merges},
    }
    out = ROOT / "Tests/Fixtures/eval/tiny-tokenizer.json"
    out.write_text(json.dumps(tok, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{len(vocab)} tokens, {len(merges)} merges -> {out}")


if __name__ == "__main__":
    main()
