#!/usr/bin/env python3
"""Golden for pp-sae's JumpReLU SAE training step, from torch autograd and torch.optim.Adam.

The loss (Gemma Scope / JumpReLU paper, SAELens JumpReLUTrainingSAE with the "step" L0 penalty):
  pre = (x - b_dec) @ W_enc + b_enc            (encoder reads x - b_dec, as pp-sae's subtractDecoderBias)
  theta = exp(log_threshold)
  f = JumpReLU(pre, theta) = pre * H(pre - theta)
  loss = mean_t sum_d (f @ W_dec + b_dec - x)^2 + lambda * mean_t sum_j H(pre_j - theta_j)
with straight-through pseudo-derivatives through the rectangle kernel K(u) = 1[-1/2 < u < 1/2]:
  dJumpReLU/dpre = H(pre - theta),  dJumpReLU/dtheta = -(theta/eps) K((pre - theta)/eps),
  dH/dpre = 0,                      dH/dtheta = -(1/eps) K((pre - theta)/eps).
Bandwidth eps = 1 and thresholds in [0.2, 1] so that many pre-activations fall inside the kernel
(the test then sees non-zero threshold gradients from both terms).

Writes Tests/Fixtures/sae/jumprelu_step.safetensors: initial w_enc [8,16], b_enc, w_dec [16,8], b_dec,
log_threshold [16], three batches x0..x2 [12, 8], and per step i: loss_mse_i, loss_l0_i, the raw
gradients g_*_i (before clipping) and the parameters p_*_i after clip_grad_norm_(1.0), Adam(lr 1e-2)
and decoder row normalisation; hyper-parameters as metadata.
Run with the reference env: .cache/refenv/bin/python scripts/reference/sae_jumprelu_goldens.py
"""
import os

import torch
from safetensors.torch import save_file

torch.set_num_threads(1)
torch.manual_seed(3)
D, S, B = 8, 16, 12
EPS, LAMBDA, LR = 1.0, 0.3, 1e-2
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "sae")


def kernel(u):
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, theta):
        ctx.save_for_backward(pre, theta)
        return pre * (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        d_pre = (pre > theta).to(pre.dtype) * grad
        d_theta = (-(theta / EPS) * kernel((pre - theta) / EPS) * grad).sum(0)
        return d_pre, d_theta


class Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, theta):
        ctx.save_for_backward(pre, theta)
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        return None, (-(1.0 / EPS) * kernel((pre - theta) / EPS) * grad).sum(0)


w_dec = torch.randn(S, D)
w_dec = w_dec / w_dec.norm(dim=1, keepdim=True)
w_enc = (w_dec.T + 0.3 * torch.randn(D, S)).clone()
b_enc = 0.1 * torch.randn(S)
b_dec = 0.1 * torch.randn(D)
log_threshold = torch.log(0.2 + 0.8 * torch.rand(S))
names = ["w_enc", "b_enc", "w_dec", "b_dec", "log_threshold"]
params = [torch.nn.Parameter(t.clone()) for t in (w_enc, b_enc, w_dec, b_dec, log_threshold)]
W_enc, B_enc, W_dec, B_dec, LogT = params
opt = torch.optim.Adam(params, lr=LR, betas=(0.9, 0.999), eps=1e-8)

out = dict(zip(names, (w_enc, b_enc, w_dec, b_dec, log_threshold)))
for step in range(3):
    x = 2.0 * torch.randn(B, D)
    out[f"x{step}"] = x
    theta = torch.exp(LogT)
    pre = (x - B_dec) @ W_enc + B_enc
    f = JumpReLU.apply(pre, theta)
    xhat = f @ W_dec + B_dec
    mse = (xhat - x).pow(2).sum(-1).mean()
    l0 = LAMBDA * Step.apply(pre, theta).sum(-1).mean()
    inside = int(kernel((pre - theta) / EPS).sum())
    active = int((pre > theta).sum())
    assert inside >= 10 and 0 < active < B * S, (inside, active)
    opt.zero_grad()
    (mse + l0).backward()
    for name, p in zip(names, params):
        out[f"g_{name}_{step}"] = p.grad.detach().clone()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    with torch.no_grad():
        W_dec /= W_dec.norm(dim=1, keepdim=True)
    for name, p in zip(names, params):
        out[f"p_{name}_{step}"] = p.detach().clone()
    out[f"loss_mse_{step}"] = mse.detach().reshape(1)
    out[f"loss_l0_{step}"] = l0.detach().reshape(1)
    print(step, "mse", float(mse.detach()), "l0 loss", float(l0.detach()), "active", active, "in kernel", inside)

path = os.path.join(OUT, "jumprelu_step.safetensors")
save_file({k: v.contiguous().float() for k, v in out.items()}, path,
          metadata={"bandwidth": str(EPS), "l0_coefficient": str(LAMBDA), "learning_rate": str(LR)})
os.chmod(path, 0o644)
