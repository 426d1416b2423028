"""Checks scripts/bergson-index.py against Bergson 2.5.1 itself, on real rows and a real adapter.

1. Bergson writes an on-disk index: GradientCollector (skip_index=False, so its Builder writes
   gradients.bin + info.json) driven by CollectorComputer.run_with_collector_hooks, exactly as
   `bergson build` runs it, for the first --rows pretokenized rows, with our PEFT adapter loaded by
   peft, projection 32, per-example mean loss.
2. pp-grad computes the same rows (same pretokenized input) -> g.ppt.
3. `bergson-index.py import` turns Bergson's index into b.ppt under g.ppt's header; its rows are
   compared with pp-grad's, and pp-score scores both against --query (a pp-grad query stream of the
   same adapter) and the scores are compared.
4. `bergson-index.py export` turns g.ppt into an index that bergson.data.load_gradients /
   load_module_gradients read back bit for bit, and `import` of that index gives g.ppt's bytes again.

Run: $(REFENV)/bin/python scripts/reference/bergson_index_check.py --gguf MODEL.gguf --adapter runs/demo/adapter \
       --examples runs/demo/data/train.jsonl.zst --query runs/demo/query_grads.ppt --bin .build/release
"""
import argparse, json, os, subprocess, sys, tempfile

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--gguf", required=True)
ap.add_argument("--adapter", required=True)
ap.add_argument("--examples", required=True)
ap.add_argument("--query", required=True)
ap.add_argument("--bin", default=".build/release")
ap.add_argument("--rows", type=int, default=4)
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()

here = os.path.dirname(os.path.abspath(__file__))
scripts = os.path.dirname(here)
sys.path.insert(0, scripts)
import ppt  # noqa: E402

import torch
torch.set_num_threads(args.threads)
import zstandard
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from peft import PeftModel
from bergson.config import IndexConfig
from bergson.collector.gradient_collectors import GradientCollector
from bergson.collector.collector import CollectorComputer
from bergson.data import load_gradients, load_module_gradients
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
    pc = tok(r["prompt"] + r["completion"], add_special_tokens=False)["input_ids"]
    ids = ([tok.bos_token_id] + pc + [tok.eos_token_id])[:384]
    rows.append({"row_id": r["row_id"], "input_ids": ids, "completion_start": 1 + len(p)})

tmp = tempfile.mkdtemp()
rows_path = os.path.join(tmp, "rows.jsonl")
with open(rows_path, "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)}\n{out.stderr}")
    return out


# 1. Bergson's own index
base = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32, attn_implementation="eager")
model = PeftModel.from_pretrained(base, args.adapter, autocast_adapter_dtype=False)
model.eval()
targets = extract_peft_target_modules(model)
model.requires_grad_(False)
model.get_input_embeddings().requires_grad_(True)
data = Dataset.from_list([{"input_ids": r["input_ids"],
                           "labels": [-100] * r["completion_start"] + r["input_ids"][r["completion_start"]:]}
                          for r in rows])
cfg = IndexConfig(run_path=os.path.join(tmp, "run"), projection_dim=32, loss_reduction="mean")
os.makedirs(cfg.partial_run_path, exist_ok=True)
collector = GradientCollector(model=model.base_model, data=data, cfg=cfg, processor=processor_for(cfg),
                              target_modules=targets)
CollectorComputer(model, data, collector=collector, cfg=cfg).run_with_collector_hooks(desc="bergson")
index = str(cfg.partial_run_path)
print("Bergson index:", sorted(os.listdir(index)))

# 2. pp-grad on the same rows
g = os.path.join(tmp, "g.ppt")
run([os.path.join(args.bin, "pp-grad"), "--model", args.gguf, "--adapter", args.adapter, "--examples", rows_path,
     "--projection-dim", "32", "--threads", str(args.threads), "--quiet", "-o", g])

# 3. Bergson's index -> .ppt, compared with pp-grad's rows and scored
tool = os.path.join(scripts, "bergson-index.py")
ids_path = os.path.join(tmp, "ids.json")
json.dump([r["row_id"] for r in rows], open(ids_path, "w"))
b = os.path.join(tmp, "b.ppt")
run([sys.executable, tool, "import", index, "--header-from", g, "--row-ids", ids_path, "-o", b])
gid, grows, _ = ppt.read(g)
bid, brows, _ = ppt.read(b)
assert gid == bid, (gid, bid)
gm, bm = grows.reshape(len(gid), -1), brows.reshape(len(bid), -1)
rel = np.linalg.norm(gm - bm, axis=1) / np.linalg.norm(gm, axis=1)
cos = (gm * bm).sum(1) / np.linalg.norm(gm, axis=1) / np.linalg.norm(bm, axis=1)
print(f"Bergson index rows vs pp-grad rows: relative L2 error max {rel.max():.2e}, cosine min {cos.min():.8f}")
scores = {}
for tag, path in (("pp-grad", g), ("bergson", b)):
    out = os.path.join(tmp, f"scores-{tag}.jsonl")
    run([os.path.join(args.bin, "pp-score"), "--train", path, "--query", args.query, "--quiet", "-o", out])
    scores[tag] = {json.loads(l)["row_id"]: json.loads(l)["score"] for l in open(out)}
diff = max(abs(scores["pp-grad"][k] - scores["bergson"][k]) for k in scores["pp-grad"])
print("pp-score on both streams: max |score difference|", f"{diff:.2e}",
      {k: round(v, 6) for k, v in scores["bergson"].items()})

# 4. .ppt -> index -> Bergson's loaders, and back
e = os.path.join(tmp, "exported")
run([sys.executable, tool, "export", g, e])
flat = load_gradients(e)
assert np.array_equal(np.asarray(flat), gm), "load_gradients differs from the stream's rows"
mods = load_module_gradients(e)
first = next(iter(mods))
assert np.array_equal(np.asarray(mods[first]), gm[:, :32 * 32]), first
back = os.path.join(tmp, "back.ppt")
run([sys.executable, tool, "import", e, "--header-from", g, "--row-ids", os.path.join(e, "row_ids.json"), "-o", back])
assert open(back, "rb").read() == open(g, "rb").read(), "export + import does not give the stream's bytes"
print(f"export -> bergson.data.load_gradients/load_module_gradients: identical ({len(list(mods.keys()))} modules); "
      "export -> import: byte-identical stream")
ok = rel.max() < 1e-3 and diff < 1e-3
print("OK" if ok else "MISMATCH")
sys.exit(0 if ok else 1)
