"""Tiny random Gemma3ForCausalLM fixture + transformers goldens (deterministic, seed 1234).

Writes
  Tests/Fixtures/tiny-gemma3/{config.json, model.safetensors}   (f32 HF directory)
  Tests/Fixtures/model/tiny-golden.safetensors                  (ids, logits, hidden states, greedy ids)

Config: hidden 64, 4 layers (sliding, full, sliding, full), window 8 < 24 test tokens, 4 query heads over
2 kv heads (GQA), head_dim 16, query_pre_attn_scalar 24 (differs from head_dim on purpose), vocab 320.
All weights (norms included) are drawn from N(0, 0.3^2) so that (1 + w) and every path are exercised.
Run: .cache/refenv/bin/python scripts/reference/tiny_gemma3.py
"""
import json, os, sys
import torch
from safetensors.torch import save_file
from transformers import Gemma3ForCausalLM, Gemma3TextConfig

torch.set_num_threads(1)
torch.manual_seed(1234)
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures")
cfg = Gemma3TextConfig(
    vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
    num_attention_heads=4, num_key_value_heads=2, head_dim=16, sliding_window=8,
    layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
    query_pre_attn_scalar=24, max_position_embeddings=512, rms_norm_eps=1e-6,
    bos_token_id=2, eos_token_id=1, pad_token_id=0, tie_word_embeddings=True,
    attn_implementation="eager")
model = Gemma3ForCausalLM(cfg).float().eval()
with torch.no_grad():
    for name, p in sorted(model.named_parameters()):
        p.copy_(torch.randn(p.shape) * 0.3)
out_dir = os.path.join(root, "tiny-gemma3")
model.save_pretrained(out_dir, safe_serialization=True)

g = torch.Generator().manual_seed(99)
ids = torch.randint(4, 320, (1, 24), generator=g)
ids[0, 0] = 2
with torch.no_grad():
    o = model(ids, output_hidden_states=True)
    captured = {}
    h = model.model.layers[-1].register_forward_hook(lambda m, i, out: captured.__setitem__("last", out[0] if isinstance(out, tuple) else out))
    model(ids)
    h.remove()
    gen = model.generate(ids[:, :10], max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0,
                         output_scores=True, return_dict_in_generate=True)
t = {"ids": ids[0].to(torch.int32), "logits": o.logits[0].float().contiguous(),
     "greedy": gen.sequences[0, 10:].to(torch.int32).contiguous(),
     "greedy_scores": torch.stack([s[0] for s in gen.scores]).float().contiguous(),
     "resid_post_last": captured["last"][0].float().contiguous()}
for i, hs in enumerate(o.hidden_states):
    t[f"hidden_{i}"] = hs[0].float().contiguous()
save_file(t, os.path.join(root, "model", "tiny-golden.safetensors"))
print("logits", o.logits.shape, "max", o.logits.abs().max().item(), "greedy", t["greedy"].tolist())
