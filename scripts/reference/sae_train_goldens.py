#!/usr/bin/env python3
"""Golden for pp-sae's TopK SAE training step, from torch autograd and torch.optim.Adam.

The encoder reads x - b_dec (SAELens apply_b_dec_to_input, pp-sae subtractDecoderBias).
Writes Tests/Fixtures/sae/train_step.safetensors: initial W_enc [8,16], b_enc, W_dec [16,8], b_dec,
three batches x0..x2 [10, 8], the dead mask (latents 13 and 15: k_aux = 2 of d_in/2 = 4, so the
aux scale is 0.5), and after each step i: loss_mse_i, loss_aux_i, the raw gradients g_*_i (before
clipping) and the parameters p_*_i after clip_grad_norm_(1.0), Adam(lr 1e-2) and decoder
row normalisation.
Run with the reference env: .cache/refenv/bin/python scripts/reference/sae_train_goldens.py
"""
import os

import torch
from safetensors.torch import save_file

torch.set_num_threads(1)
torch.manual_seed(0)
D, S, K, B = 8, 16, 3, 10
DEAD = [13, 15]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "sae")

w_dec = torch.randn(S, D)
w_dec = w_dec / w_dec.norm(dim=1, keepdim=True)
w_enc = (w_dec.T + 0.3 * torch.randn(D, S)).clone()
b_enc = 0.1 * torch.randn(S)
b_dec = 0.1 * torch.randn(D)
params = [torch.nn.Parameter(t.clone()) for t in (w_enc, b_enc, w_dec, b_dec)]
W_enc, B_enc, W_dec, B_dec = params
opt = torch.optim.Adam(params, lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
dead = torch.zeros(S, dtype=torch.bool)
dead[DEAD] = True
k_aux_base = D // 2
k_aux = min(k_aux_base, int(dead.sum()))
aux_scale = min(int(dead.sum()) / k_aux_base, 1.0)

out = {"w_enc": w_enc, "b_enc": b_enc, "w_dec": w_dec, "b_dec": b_dec, "dead": dead.float()}
for step in range(3):
    x = 2.0 * torch.randn(B, D)
    out[f"x{step}"] = x
    pre = (x - B_dec) @ W_enc + B_enc  # apply_b_dec_to_input (centred encoder input)
    vals, idx = pre.topk(K, dim=-1)
    f = torch.zeros_like(pre).scatter(-1, idx, torch.relu(vals))
    xhat = f @ W_dec + B_dec
    mse = (xhat - x).pow(2).sum(-1).mean()
    e = (x - xhat).detach()
    aux_pre = torch.where(dead[None], pre, torch.full_like(pre, -torch.inf))
    avals, aidx = aux_pre.topk(k_aux, dim=-1)
    aux_acts = torch.zeros_like(pre).scatter(-1, aidx, avals)
    ehat = aux_acts @ W_dec
    aux = aux_scale * (ehat - e).pow(2).sum(-1).mean()
    opt.zero_grad()
    (mse + aux).backward()
    for name, p in zip(["w_enc", "b_enc", "w_dec", "b_dec"], params):
        out[f"g_{name}_{step}"] = p.grad.detach().clone()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    with torch.no_grad():
        W_dec /= W_dec.norm(dim=1, keepdim=True)
    for name, p in zip(["w_enc", "b_enc", "w_dec", "b_dec"], params):
        out[f"p_{name}_{step}"] = p.detach().clone()
    out[f"loss_mse_{step}"] = mse.detach().reshape(1)
    out[f"loss_aux_{step}"] = aux.detach().reshape(1)
    print(step, float(mse), float(aux))

save_file({k: v.contiguous().float() for k, v in out.items()}, os.path.join(OUT, "train_step.safetensors"))
