"""Optimizer goldens for PlaypenTrain: torch AdamW + transformers schedules + clip_grad_norm_.

Writes Tests/Fixtures/train/adamw_golden.json. A tiny LoRA layout (r 2; q_proj: in 3, out 4;
down_proj: in 5, out 3; one layer) holds a fixed parameter vector; 20 fixed gradient sets go
through clip_grad_norm_(1.0), torch.optim.AdamW(lr 1e-2, betas (0.9, 0.999), eps 1e-8,
weight_decay 0.01) and get_cosine_schedule_with_warmup (warm-up ceil(0.1 * 20) = 2). Records
parameters after every step, the lr used by every step and the pre-clip global norm. Also the
lr factors of the linear and constant_with_warmup schedules.

Run: .cache/refenv/bin/python scripts/reference/train_goldens.py
"""
import json, math, os
import numpy as np
import torch
torch.set_num_threads(1)
from transformers import (get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup,
                          get_constant_schedule_with_warmup)

out = os.path.join(os.path.dirname(__file__), "../../Tests/Fixtures/train/adamw_golden.json")
rng = np.random.default_rng(1234)
# Tensor order = PlaypenTrain layout order: q.A [2,3], q.B [4,2], down.A [2,5], down.B [3,2].
shapes = [(2, 3), (4, 2), (2, 5), (3, 2)]
params = [torch.nn.Parameter(torch.tensor(rng.normal(0, 0.5, s), dtype=torch.float32)) for s in shapes]
init = [p.detach().clone() for p in params]
steps, base_lr = 20, 1e-2
warmup = math.ceil(0.1 * steps)
opt = torch.optim.AdamW(params, lr=base_lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
sched = get_cosine_schedule_with_warmup(opt, warmup, steps)
record = {"shapes": shapes, "base_lr": base_lr, "warmup": warmup, "total": steps,
          "init": [t.flatten().tolist() for t in init], "grads": [], "lr": [], "norm": [], "params": []}
for k in range(steps):
    # Some steps far above the clip threshold (scale 2), some below (scale 0.05).
    scale = 2.0 if k % 3 == 0 else 0.05
    grads = [torch.tensor(rng.normal(0, scale, s), dtype=torch.float32) for s in shapes]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    record["grads"].append([g.flatten().tolist() for g in grads])
    norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
    record["norm"].append(float(norm))
    record["lr"].append(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
    record["params"].append([p.detach().flatten().tolist() for p in params])

def factors(make):
    o = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    s = make(o)
    f = []
    for _ in range(steps):
        f.append(o.param_groups[0]["lr"])
        o.step(); s.step()
    return f
record["linear_factors"] = factors(lambda o: get_linear_schedule_with_warmup(o, warmup, steps))
record["constant_with_warmup_factors"] = factors(lambda o: get_constant_schedule_with_warmup(o, warmup))
record["cosine_factors"] = factors(lambda o: get_cosine_schedule_with_warmup(o, warmup, steps))
with open(out, "w") as f:
    json.dump(record, f)
print("wrote", out)
