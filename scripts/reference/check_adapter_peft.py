"""Loads an adapter written by pp-train with peft and compares per-row completion losses.

Usage: check_adapter_peft.py MODEL_DIR ADAPTER_DIR ROWS.jsonl LOSSES.jsonl [--tol 1e-4]
  MODEL_DIR    Hugging Face directory of the base model (e.g. Tests/Fixtures/tiny-gemma3)
  ADAPTER_DIR  adapter directory written by pp-train
  ROWS.jsonl   pretokenized rows {"row_id", "input_ids", "completion_start"}
  LOSSES.jsonl pp-train --eval-only output for the same rows and adapter
Prints the worst relative difference of the summed row losses; exits 1 above the tolerance.
For any adapter, by hand. CI checks the same on a committed writer-made adapter without torch:
written_adapter_peft_golden.py + Tests/PlaypenTrainTests/WrittenAdapterPeftTests.swift.
"""
import json, sys
import torch
torch.set_num_threads(1)
from transformers import Gemma3ForCausalLM
from peft import PeftModel

model_dir, adapter_dir, rows_path, losses_path = sys.argv[1:5]
tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-4
base = Gemma3ForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32, attn_implementation="eager")
model = PeftModel.from_pretrained(base, adapter_dir).eval()
rows = [json.loads(l) for l in open(rows_path)]
ours = {r["row_id"]: r for r in map(json.loads, open(losses_path))}
worst = 0.0
with torch.no_grad():
    for r in rows:
        ids = torch.tensor([r["input_ids"]])
        logits = model(input_ids=ids).logits[0]
        cs = r["completion_start"]
        loss = float(torch.nn.functional.cross_entropy(logits[cs - 1:-1], ids[0, cs:], reduction="sum"))
        rel = abs(loss - ours[r["row_id"]]["loss_sum"]) / abs(loss)
        worst = max(worst, rel)
print(f"rows {len(rows)}: worst relative loss difference {worst:.3e} (tolerance {tol})")
sys.exit(0 if worst <= tol else 1)
