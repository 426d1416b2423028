"""LoRA training goldens on the tiny Gemma-3 fixture (torch 2.15 + transformers + peft 0.21.2).

Reads Tests/Fixtures/tiny-gemma3/ (made by tiny_gemma3.py). Writes under Tests/Fixtures/train/:
  tiny-lora-init/            the initial adapter (r 4, alpha 8, all seven targets; A as peft
                             initialises it, B ~ N(0, 0.1^2) so every gradient is non-zero)
  tiny-train-golden.json     rows (input_ids, completion_start), the step plan, per-step losses,
                             lr and pre-clip grad norms of 20 optimizer steps
  tiny-lora-grads.safetensors  per-example LoRA gradients of rows 0-2 (mean completion-token
                             loss of the row), named "row{i}.<peft tensor name>", and the final
                             adapter after 20 steps, named "final.<peft tensor name>"

Losses: completion-only cross-entropy with next-token shift, summed over the completion tokens
of the effective batch and divided by their count (trl's num_items_in_batch); micro-batches of
2 rows accumulate into effective batches of 4. Optimizer: clip_grad_norm_(1.0), AdamW(lr 1e-2,
wd 0.01), cosine schedule with 2 warm-up steps of 20. Dropout 0 (deterministic). Rows run one
at a time (no padding), which is the same math as trl's right padding.

Run: .cache/refenv/bin/python scripts/reference/train_tiny_goldens.py
"""
import json, math, os
import torch
torch.set_num_threads(1)
from transformers import Gemma3ForCausalLM, get_cosine_schedule_with_warmup
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file

here = os.path.dirname(os.path.abspath(__file__))
fix = os.path.join(here, "..", "..", "Tests", "Fixtures")
out = os.path.join(fix, "train")
model = Gemma3ForCausalLM.from_pretrained(os.path.join(fix, "tiny-gemma3"), torch_dtype=torch.float32,
                                          attn_implementation="eager")
torch.manual_seed(0)
pm = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, task_type="CAUSAL_LM",
                    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
with torch.no_grad():
    for n, p in pm.named_parameters():
        if "lora_B" in n:
            p.copy_(torch.randn(p.shape) * 0.1)
pm.save_pretrained(os.path.join(out, "tiny-lora-init"))
os.remove(os.path.join(out, "tiny-lora-init", "README.md"))
pm.train()  # dropout is 0; train mode only matters for dropout

g = torch.Generator().manual_seed(5)
rows = []
for i in range(12):
    T = int(torch.randint(10, 22, (1,), generator=g))
    ids = [2] + torch.randint(4, 320, (T - 1,), generator=g).tolist()
    cs = int(torch.randint(2, T - 2, (1,), generator=g))
    rows.append({"row_id": f"r{i}", "input_ids": ids, "completion_start": cs})

def row_loss_sum(row):
    ids = torch.tensor([row["input_ids"]])
    logits = pm(input_ids=ids).logits[0]
    cs = row["completion_start"]
    pred = logits[cs - 1:-1]
    tgt = ids[0, cs:]
    return torch.nn.functional.cross_entropy(pred, tgt, reduction="sum"), len(tgt)

names = [n for n, p in pm.named_parameters() if p.requires_grad]
params = [p for n, p in pm.named_parameters() if p.requires_grad]
def save_name(n):
    return n.replace(".default.weight", ".weight")

tensors = {}
for i in range(3):
    pm.zero_grad()
    s, cnt = row_loss_sum(rows[i])
    (s / cnt).backward()
    for n, p in zip(names, params):
        tensors[f"row{i}.{save_name(n)}"] = p.grad.detach().clone().contiguous()

steps, lr = 20, 1e-2
opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
sched = get_cosine_schedule_with_warmup(opt, 2, steps)
plan, losses, lrs, norms = [], [], [], []
for k in range(steps):
    idx = [(4 * k + j) % 12 for j in range(4)]
    micro = [idx[:2], idx[2:]]
    plan.append(micro)
    total = sum(len(rows[i]["input_ids"]) - rows[i]["completion_start"] for i in idx)
    pm.zero_grad()
    loss_sum = 0.0
    for mb in micro:
        s = sum(row_loss_sum(rows[i])[0] for i in mb)
        (s / total).backward()
        loss_sum += float(s)
    losses.append(loss_sum / total)
    norms.append(float(torch.nn.utils.clip_grad_norm_(params, 1.0)))
    lrs.append(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
for n, p in zip(names, params):
    tensors[f"final.{save_name(n)}"] = p.detach().clone().contiguous()
save_file(tensors, os.path.join(out, "tiny-lora-grads.safetensors"))
with open(os.path.join(out, "tiny-train-golden.json"), "w") as f:
    json.dump({"rows": rows, "plan": plan, "loss": losses, "lr": lrs, "grad_norm": norms,
               "base_lr": lr, "warmup": 2, "total": steps}, f)
print("losses", [round(l, 4) for l in losses])
