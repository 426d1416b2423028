"""peft's logits for an adapter WRITTEN by this project (torch + transformers + peft 0.21.2).

Reads Tests/Fixtures/tiny-gemma3/ and Tests/Fixtures/train/swift-written-adapter/ (the output of
PeftAdapter.write for WrittenAdapterPeftTests.writtenAdapter; the Swift test checks that the writer
still produces these bytes, and rewrites them with PP_UPDATE_FIXTURES=1). Loads the adapter with
PeftModel.from_pretrained, checks that peft loaded every tensor of the file unchanged and that the
adapter changes the logits, and writes Tests/Fixtures/train/swift-written-adapter-peft.safetensors:
  logits_0, logits_1  [T, 320] f32: logits of rows 0 and 1 of train/tiny-train-golden.json
  loss_sum            [12] f64: summed completion-token cross-entropy of every row of that file
  metadata adapter_model_sha256: sha256 of the adapter_model.safetensors the numbers belong to

Run: .cache/refenv/bin/python scripts/reference/written_adapter_peft_golden.py
"""
import hashlib, json, os
import torch
torch.set_num_threads(1)
from transformers import Gemma3ForCausalLM
from peft import PeftModel
from safetensors.torch import load_file, save_file

here = os.path.dirname(os.path.abspath(__file__))
fix = os.path.join(here, "..", "..", "Tests", "Fixtures")
adapter_dir = os.path.join(fix, "train", "swift-written-adapter")
model_dir = os.path.join(fix, "tiny-gemma3")

base = Gemma3ForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32, attn_implementation="eager").eval()
rows = json.load(open(os.path.join(fix, "train", "tiny-train-golden.json")))["rows"]
with torch.no_grad():
    base_logits = [base(input_ids=torch.tensor([rows[i]["input_ids"]])).logits[0].clone() for i in range(2)]

model = PeftModel.from_pretrained(base, adapter_dir).eval()
# Every tensor of the file reached peft's modules unchanged, and nothing else is trainable LoRA.
written = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
loaded = {n.replace(".default.weight", ".weight"): p for n, p in model.named_parameters() if "lora_" in n}
assert sorted(written) == sorted(loaded), (sorted(written)[:3], sorted(loaded)[:3])
for n, t in written.items():
    assert torch.equal(loaded[n].detach(), t), n
cfg = model.peft_config["default"]
print("peft config: r", cfg.r, "alpha", cfg.lora_alpha, "scaling", model.base_model.model.model.layers[0].self_attn.q_proj.scaling)

tensors = {}
with torch.no_grad():
    losses = []
    for i, r in enumerate(rows):
        ids = torch.tensor([r["input_ids"]])
        logits = model(input_ids=ids).logits[0]
        cs = r["completion_start"]
        losses.append(float(torch.nn.functional.cross_entropy(logits[cs - 1:-1].double(), ids[0, cs:], reduction="sum")))
        if i < 2:
            tensors[f"logits_{i}"] = logits.contiguous()
            effect = float((logits - base_logits[i]).abs().max())
            assert effect > 0.1, f"row {i}: the adapter barely changes the logits ({effect})"
            print(f"row {i}: max |logit - base logit| = {effect:.3f}")
tensors["loss_sum"] = torch.tensor(losses, dtype=torch.float64)
sha = hashlib.sha256(open(os.path.join(adapter_dir, "adapter_model.safetensors"), "rb").read()).hexdigest()
out = os.path.join(fix, "train", "swift-written-adapter-peft.safetensors")
save_file(tensors, out, metadata={"adapter_model_sha256": sha})
os.chmod(out, 0o644)
print("loss sums", [round(l, 4) for l in losses])
