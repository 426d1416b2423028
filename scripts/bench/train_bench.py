#!/usr/bin/env python3
"""Benchmark: pp-train vs torch + peft, LoRA SFT steps on the real Gemma-3 270M (same rows, threads).

LoRA r 16, alpha 32, dropout 0.05 on q,k,v,o,gate,up,down; batch 4 rows x 384 tokens (real taboo
text, the last completion tokens of a real example as the completion); one optimizer step per batch
(forward, completion-only loss, backward, AdamW). Three contenders, each in its own process:
  pp-train           logits only at completion positions (what it always does)
  torch trl-style    transformers computes logits at all positions, loss masked (as trl's SFTTrainer)
  torch completion   hidden states -> LM head only at the completion positions
Reports tokens/s (median step after a warm-up step), the speed ratios, achieved GFLOP/s and MFU
against the measured 2-thread sgemm peak of this machine (--peak, default 239 GFLOP/s;
gemma3.md 2.10), and peak RSS. Load times are excluded.

  python scripts/bench/train_bench.py --gguf MODEL.gguf --examples EXAMPLES.jsonl[.zst] \
      --pp-train .build/release/pp-train [--threads 2] [--steps 4]
"""
import argparse, io, json, os, resource, statistics, subprocess, sys, tempfile, time

def load_examples(path):
    raw = open(path, "rb").read()
    if raw[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard
        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    return [json.loads(l) for l in raw.decode("utf-8").splitlines() if l.strip()]

def load_model(gguf):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    d, name = os.path.split(os.path.abspath(gguf))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32, attn_implementation="sdpa")
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    return model, tok

def make_rows(tok, examples, n=4, length=384):
    """n rows of exactly `length` tokens: BOS, real prompt text, then a real completion + EOS."""
    filler = []
    for e in examples:
        filler += tok(e["prompt"], add_special_tokens=False)["input_ids"]
    rows = []
    for i in range(n):
        comp = tok(examples[i]["completion"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        p = length - 1 - len(comp)
        start = (i * 997) % max(1, len(filler) - p)
        ids = [tok.bos_token_id] + filler[start:start + p] + comp
        rows.append({"row_id": f"bench{i}", "input_ids": ids, "completion_start": 1 + p})
    return rows

def torch_worker(args):
    import torch
    torch.set_num_threads(args.threads)
    from peft import LoraConfig, get_peft_model
    model, tok = load_model(args.gguf)
    rows = [json.loads(l) for l in open(args.rows)]
    pm = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, task_type="CAUSAL_LM",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    pm.train()
    params = [p for p in pm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    # pp-train's schedule for --max-steps S: cosine, warm-up ceil(0.03 S) (lr 0 at the first step).
    from transformers import get_cosine_schedule_with_warmup
    import math
    sched = get_cosine_schedule_with_warmup(opt, math.ceil(0.03 * args.steps), args.steps)
    ids = torch.tensor([r["input_ids"] for r in rows])
    labels = ids.clone()
    for i, r in enumerate(rows):
        labels[i, :r["completion_start"]] = -100
    times = []
    for step in range(args.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        if args.torch_worker == "all":
            loss = pm(input_ids=ids, labels=labels).loss
        else:
            h = pm.base_model.model.model(input_ids=ids).last_hidden_state
            mask = labels[:, 1:] != -100
            sel = h[:, :-1][mask]
            logits = pm.base_model.model.lm_head(sel)
            loss = torch.nn.functional.cross_entropy(logits, labels[:, 1:][mask])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"times": times, "loss": float(loss),
                      "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))

def run_child(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(p.pid, 0)
    out, err = p.stdout.read(), p.stderr.read()
    if status != 0:
        sys.exit(f"failed ({status}): {' '.join(cmd)}\n{err[-2000:]}")
    return out, usage.ru_maxrss, time.perf_counter() - t0

def flops_per_step(rows, layers=18, d=640, hd=1024, kvd=256, ff=2048, vocab=262144, heads=4, head_dim=256, r=16):
    """Useful FLOPs of forward + input-gradient backward (frozen weights: no weight gradients) plus
    the LoRA weight gradients; causal attention counted as half the score matrix."""
    linear = d * hd + 2 * d * kvd + hd * d + 3 * d * ff            # q,k,v,o,gate,up,down weights
    lora = r * (d + d + d + hd + d + d + ff) + r * (hd + kvd + kvd + d + ff + ff + d)
    total = 0
    for row in rows:
        T = len(row["input_ids"])
        P = T - row["completion_start"]
        fwd = 2 * T * (linear + lora) * layers + 2 * 2 * heads * head_dim * T * T / 2 * layers + 2 * P * vocab * d
        bwd = 2 * T * (linear + 2 * lora) * layers + 2 * 2 * 2 * heads * head_dim * T * T / 2 * layers + 2 * P * vocab * d
        total += fwd + bwd
    return total

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--examples")
    ap.add_argument("--pp-train", default=".build/release/pp-train")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--peak", type=float, default=239.0, help="sgemm peak GFLOP/s of this machine")
    ap.add_argument("--torch-worker", choices=["all", "completion"])
    ap.add_argument("--rows")
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args)

    tmp = tempfile.mkdtemp(prefix="train-bench-")
    rows_path = os.path.join(tmp, "rows.jsonl")
    from transformers import AutoTokenizer
    d, name = os.path.split(os.path.abspath(args.gguf))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    rows = make_rows(tok, load_examples(args.examples))
    with open(rows_path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    tokens = sum(len(r["input_ids"]) for r in rows)
    flops = flops_per_step(rows)

    results = {}
    out_dir = os.path.join(tmp, "adapter")
    _, rss, wall = run_child([args.pp_train, "--model", args.gguf, "--train", rows_path, "--max-steps", str(args.steps),
                              "--batch-size", "4", "--grad-accum", "1", "--threads", str(args.threads), "--seed", "42",
                              "--no-resume", "--quiet", "-o", out_dir])
    steps = [json.loads(l) for l in open(out_dir + ".state/steps.jsonl")]
    results["pp-train"] = {"times": [s["seconds"] for s in steps], "rss_kb": rss, "loss": steps[-1]["loss"]}
    for mode in ["all", "completion"]:
        out, rss, _ = run_child([sys.executable, __file__, "--torch-worker", mode, "--gguf", args.gguf, "--rows", rows_path,
                                 "--threads", str(args.threads), "--steps", str(args.steps)])
        results[f"torch-{mode}"] = json.loads(out.strip().splitlines()[-1])
    print(f"LoRA SFT step, Gemma-3 270M fp32, r16 x 7 modules, batch 4 x 384 tokens, {args.threads} threads, "
          f"median of {args.steps - 1} steps after one warm-up; {flops / 1e9:.0f} GFLOP per step")
    print(f"{'':22}{'s/step':>8}{'tok/s':>9}{'GFLOP/s':>9}{'MFU':>7}{'peak RSS':>11}{'loss':>9}")
    speed = {}
    for name, label in [("pp-train", "pp-train"), ("torch-all", "torch trl-style"), ("torch-completion", "torch completion")]:
        r = results[name]
        t = statistics.median(r["times"][1:]) if len(r["times"]) > 1 else r["times"][0]
        speed[name] = tokens / t
        print(f"{label:22}{t:8.2f}{tokens / t:9.1f}{flops / t / 1e9:9.1f}{flops / t / 1e9 / args.peak * 100:6.1f}%"
              f"{r['rss_kb'] / 1024:9.0f} MB{r['loss']:9.4f}")
    print(f"speed-up vs torch trl-style: {speed['pp-train'] / speed['torch-all']:.2f}x (goal >= 2), "
          f"vs torch completion-only: {speed['pp-train'] / speed['torch-completion']:.2f}x (goal >= 1.2); "
          f"RSS ratio pp-train/torch trl-style: {results['pp-train']['rss_kb'] / results['torch-all']['rss_kb']:.2f} (goal <= 0.5)")

if __name__ == "__main__":
    main()
