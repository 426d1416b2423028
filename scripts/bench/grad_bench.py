"""pp-grad vs Bergson 2.5.1 on the CPU: per-example projected LoRA gradients per second.

Same model (the 270M GGUF, dequantized to fp32 by transformers), same PEFT adapter, same
pretokenized rows (BOS + prompt + completion + EOS, labels on the completion), projection 32,
per-example mean loss, one row per batch on both sides, same thread count. Bergson runs its own
collector (GradientCollector hooks + fwd_bwd_factory, as CollectorComputer does per batch).

Run: make bench-grad (needs make model, an adapter, and the reference env).
"""
import argparse, json, os, subprocess, sys, tempfile, time, resource

ap = argparse.ArgumentParser()
ap.add_argument("--gguf", required=True)
ap.add_argument("--adapter", required=True)
ap.add_argument("--examples", required=True, help="pp-filter records (JSONL or .zst)")
ap.add_argument("--pp-grad", required=True)
ap.add_argument("--rows", type=int, default=8)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--projection-dim", type=int, default=32)
args = ap.parse_args()

import torch
torch.set_num_threads(args.threads)
import zstandard
from transformers import AutoModelForCausalLM, AutoTokenizer
from peft import PeftModel
from datasets import Dataset
from bergson.config import IndexConfig
from bergson.collector.gradient_collectors import GradientCollector
from bergson.collector.collector import fwd_bwd_factory
from bergson.data import pad_and_tensor
from bergson.utils.worker_utils import extract_peft_target_modules, processor_for

raw = open(args.examples, "rb").read()
if raw[:4] == b"\x28\xb5\x2f\xfd":
    raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
records = [json.loads(l) for l in raw.decode().splitlines() if l.strip()][: args.rows]

d, name = os.path.split(os.path.abspath(args.gguf))
tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
rows = []
for r in records:
    p = tok(r["prompt"], add_special_tokens=False)["input_ids"]
    c = tok(r["completion"], add_special_tokens=False)["input_ids"]
    ids = [tok.bos_token_id] + p + c + [tok.eos_token_id]
    ids = ids[-384:] if len(ids) > 384 else ids
    rows.append({"row_id": r["row_id"], "input_ids": ids, "completion_start": len(ids) - len(c) - 1})
tokens = sum(len(r["input_ids"]) for r in rows)

tmp = tempfile.mkdtemp()
rows_path = os.path.join(tmp, "rows.jsonl")
with open(rows_path, "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")

# pp-grad (its own process, timed from the outside, model load included and reported apart)
t0 = time.time()
out = subprocess.run(["/usr/bin/time", "-v", args.pp_grad, "--model", args.gguf, "--adapter", args.adapter,
                      "--examples", rows_path, "--projection-dim", str(args.projection_dim),
                      "--threads", str(args.threads), "-o", os.path.join(tmp, "g.ppt")],
                     capture_output=True, text=True)
pp_wall = time.time() - t0
if out.returncode != 0:
    sys.exit(out.stderr)
pp_rss = [int(l.split()[-1]) for l in out.stderr.splitlines() if "Maximum resident" in l][0] / 1024
pp_rate = [l for l in out.stderr.splitlines() if l.startswith("pp-grad:") and "rows/s" in l][0]
pp_secs = float(pp_rate.split(" in ")[1].split(" s")[0])

# Bergson 2.5.1
t0 = time.time()
base = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32, attn_implementation="eager")
model = PeftModel.from_pretrained(base, args.adapter, autocast_adapter_dtype=False)
model.eval()
load_s = time.time() - t0
targets = extract_peft_target_modules(model)
model.requires_grad_(False)
model.get_input_embeddings().requires_grad_(True)
data = Dataset.from_list([{"input_ids": r["input_ids"],
                           "labels": [-100] * r["completion_start"] + r["input_ids"][r["completion_start"]:]} for r in rows])
cfg = IndexConfig(run_path=os.path.join(tmp, "run"), projection_dim=args.projection_dim, loss_reduction="mean")
os.makedirs(cfg.partial_run_path, exist_ok=True)
collector = GradientCollector(model=model.base_model, data=data, cfg=cfg, processor=processor_for(cfg),
                              target_modules=targets, skip_index=True)
fwd_bwd = fwd_bwd_factory(cfg)
t0 = time.time()
for i in range(len(rows)):
    batch = data[[i]]
    x, y, _, mask = pad_and_tensor(batch["input_ids"], labels=batch["labels"], sync_max_len=False)
    with collector.with_batch(mask):
        fwd_bwd(model, x, y, batch)
    collector.mod_grads.clear()
b_secs = time.time() - t0
b_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

print(f"per-example projected gradients, 270M LoRA r16 x 7 modules, p = {args.projection_dim}, "
      f"{len(rows)} rows / {tokens} tokens, {args.threads} threads")
print(f"  pp-grad : {len(rows) / pp_secs:6.2f} rows/s ({tokens / pp_secs:6.0f} tok/s), process {pp_wall:.1f} s, peak RSS {pp_rss:.0f} MB")
print(f"  Bergson : {len(rows) / b_secs:6.2f} rows/s ({tokens / b_secs:6.0f} tok/s), model load {load_s:.1f} s, peak RSS {b_rss:.0f} MB")
print(f"  ratio   : {b_secs / pp_secs:.2f}x")
