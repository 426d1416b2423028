"""PEFT adapter fixtures for PlaypenTrain's adapter reader (peft 0.21.2).

Builds the tiny Gemma-3 config of scripts/reference/tiny_gemma3.py (hidden 64, ff 128, 4 layers,
4 heads over 2 kv heads, head_dim 16), wraps it with peft LoRA and saves two adapters with random
(non-zero) A and B:
  Tests/Fixtures/train/peft-adapter-all/     r 4, alpha 8, dropout 0.05, all seven targets
  Tests/Fixtures/train/peft-adapter-qvdown/  r 2, alpha 6, dropout 0, q_proj, v_proj, down_proj
and Tests/Fixtures/train/peft-adapter-expect.json: per tensor, shape, float64 sum, and the values
at flat indices 0, 1 and the last.

Run: .cache/refenv/bin/python scripts/reference/peft_adapter_golden.py
"""
import json, os
import torch
torch.set_num_threads(1)
from transformers import Gemma3ForCausalLM, Gemma3TextConfig
from peft import LoraConfig, get_peft_model
from safetensors import safe_open

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "train")
cfg = Gemma3TextConfig(
    vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
    num_attention_heads=4, num_key_value_heads=2, head_dim=16, sliding_window=8,
    layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
    query_pre_attn_scalar=24, bos_token_id=2, eos_token_id=1, pad_token_id=0, tie_word_embeddings=True)
expect = {}
for name, r, alpha, dropout, targets in [
        ("peft-adapter-all", 4, 8, 0.05, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
        ("peft-adapter-qvdown", 2, 6, 0.0, ["q_proj", "v_proj", "down_proj"])]:
    torch.manual_seed(7)
    model = Gemma3ForCausalLM(cfg)
    pm = get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,
                                          task_type="CAUSAL_LM", target_modules=targets))
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape) * 0.1)
    out = os.path.join(root, name)
    pm.save_pretrained(out)
    os.remove(os.path.join(out, "README.md"))  # peft's model-card boilerplate
    with safe_open(os.path.join(out, "adapter_model.safetensors"), "pt") as f:
        expect[name] = {k: {"shape": list(f.get_tensor(k).shape),
                            "sum": float(f.get_tensor(k).double().sum()),
                            "first": [float(v) for v in f.get_tensor(k).flatten()[:2]],
                            "last": float(f.get_tensor(k).flatten()[-1])} for k in f.keys()}
with open(os.path.join(root, "peft-adapter-expect.json"), "w") as f:
    json.dump(expect, f, indent=1, sort_keys=True)
print("wrote", list(expect))
