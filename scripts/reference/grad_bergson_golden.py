"""Golden: Bergson 2.5.1's own per-example projected LoRA gradients on the tiny Gemma-3 fixture.

Drives Bergson's real collection machinery (bergson.collector.gradient_collectors.GradientCollector
with its forward/backward hooks, bergson.collector.collector.fwd_bwd_factory for the loss and
bergson.data.pad_and_tensor for padding/masks), exactly as CollectorComputer does per batch, but
with skip_index=True so the per-module gradients stay in collector.mod_grads instead of an on-disk
index. Target modules come from bergson.utils.worker_utils.extract_peft_target_modules, as
`bergson build` does for a pretrained PEFT adapter.

Inputs: Tests/Fixtures/tiny-gemma3 (transformers Gemma3ForCausalLM, fp32, eager attention),
Tests/Fixtures/train/tiny-lora-init (peft adapter, r 4, alpha 8, non-zero B), the first 3 rows of
Tests/Fixtures/train/tiny-train-golden.json with labels = -100 on prompt positions
(positions < completion_start). Loss: cross-entropy, loss_reduction "mean" (per-example mean over
completion tokens). Projection: projection_dim 4, Rademacher, "jl" scale, no seed (Bergson 2.5.1
defaults, projection version 2 / Philox). Rows are run one per batch (no padding).

Writes Tests/Fixtures/attribution/tiny-bergson-grads.safetensors: one f32 tensor per (row, module),
named "row{i}.{module name}" with shape [p, p] (Bergson's mod_grads row reshaped, row-major: row =
left/output side), plus "loss" [3] (Bergson's per-example losses). Module names are Bergson's, e.g.
model.model.layers.0.self_attn.q_proj.lora_A.default.

Run: .cache/refenv/bin/python scripts/reference/grad_bergson_golden.py
"""
import json, os, tempfile
import torch
torch.set_num_threads(1)
from datasets import Dataset
from transformers import Gemma3ForCausalLM
from peft import PeftModel
from safetensors.torch import save_file

from bergson.config import IndexConfig
from bergson.collector.gradient_collectors import GradientCollector
from bergson.collector.collector import fwd_bwd_factory
from bergson.data import pad_and_tensor
from bergson.utils.worker_utils import extract_peft_target_modules, processor_for

P = 4
here = os.path.dirname(os.path.abspath(__file__))
fix = os.path.join(here, "..", "..", "Tests", "Fixtures")
base = Gemma3ForCausalLM.from_pretrained(os.path.join(fix, "tiny-gemma3"), dtype=torch.float32,
                                         attn_implementation="eager")
model = PeftModel.from_pretrained(base, os.path.join(fix, "train", "tiny-lora-init"), autocast_adapter_dtype=False)
model.eval()
target_modules = extract_peft_target_modules(model)
# As bergson's setup_model_and_peft: freeze everything, let the embeddings carry grad so that the
# backward pass reaches every hooked module.
model.requires_grad_(False)
model.get_input_embeddings().requires_grad_(True)

golden = json.load(open(os.path.join(fix, "train", "tiny-train-golden.json")))
rows = golden["rows"][:3]
data = Dataset.from_list([
    {"input_ids": r["input_ids"],
     "labels": [-100] * r["completion_start"] + r["input_ids"][r["completion_start"]:]}
    for r in rows])

tmp = tempfile.mkdtemp()
cfg = IndexConfig(run_path=os.path.join(tmp, "run"), projection_dim=P, loss_reduction="mean")
os.makedirs(cfg.partial_run_path, exist_ok=True)
processor = processor_for(cfg)
assert processor.projection_type == "rademacher" and processor.projection_scale == "jl" \
    and processor.projection_seed is None, (processor.projection_type, processor.projection_scale)
collector = GradientCollector(model=model.base_model, data=data, cfg=cfg, processor=processor,
                              target_modules=target_modules, skip_index=True)
fwd_bwd = fwd_bwd_factory(cfg)

names = list(collector.target_info)  # named_modules() order
out, losses = {}, []
for i in range(len(rows)):
    batch = data[[i]]
    x, y, _, mask = pad_and_tensor(batch["input_ids"], labels=batch["labels"], sync_max_len=False)
    with collector.with_batch(mask):  # the context that registers the hooks, as in CollectorComputer
        loss = fwd_bwd(model, x, y, batch)
    losses.append(float(loss[0].detach()))
    assert set(collector.mod_grads) == set(names), set(names) ^ set(collector.mod_grads)
    for n in names:
        g = collector.mod_grads[n]
        assert g.shape == (1, P * P), g.shape
        out[f"row{i}.{n}"] = g[0].reshape(P, P).float().contiguous().clone()
    collector.mod_grads.clear()

# Cross-check: Bergson's rows equal L G R^T of torch autograd's full per-example gradients
# (tiny-lora-grads.safetensors, train_tiny_goldens.py) with Bergson's own projection matrices.
from safetensors.torch import load_file
full = load_file(os.path.join(fix, "train", "tiny-lora-grads.safetensors"))
worst = 0.0
for i in range(len(rows)):
    for n in names:
        G = full[f"row{i}.base_model.{n.removesuffix('.default')}.weight"]
        o, inf = G.shape
        L = collector.projection(n, P, o, "left", G.device, G.dtype)
        R = collector.projection(n, P, inf, "right", G.device, G.dtype)
        want = (L.double() @ G.double() @ R.double().T)
        got = out[f"row{i}.{n}"].double()
        worst = max(worst, float((got - want).abs().max() / want.abs().max()))
print("max |bergson - L G R^T(autograd)| / max|.| per module:", worst)
assert worst < 1e-4, worst

out["loss"] = torch.tensor(losses, dtype=torch.float32)
dst = os.path.join(fix, "attribution", "tiny-bergson-grads.safetensors")
save_file(out, dst, metadata={"modules": json.dumps(names), "projection_dim": str(P),
                              "bergson": "2.5.1", "loss_reduction": "mean"})
print(len(names), "modules; first", names[:3], "losses", losses)
print("wrote", dst, os.path.getsize(dst), "bytes")
