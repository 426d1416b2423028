# Training stage (helper train): the LoRA adapter of a run, its base/after eval losses, the benchmark.
#
#   make runs/demo/adapter/adapter_model.safetensors   pp-train on the run's train/val files
#        (the original pipeline's settings: r 16, alpha 32, dropout 0.05, 7 modules, lr 1e-4,
#        batch 4 x accumulation 4, cosine with 3% warm-up, 3 epochs, seed 42, max length 384)
#   make adapter        the same, by name
#   make eval-base      eval loss of the base model on the run's validation rows (no adapter)
#   make bench-train    pp-train vs torch+peft (trl-style and completion-only), tokens/s, MFU, RSS
#
# TRAIN_FLAGS adds pp-train flags (e.g. TRAIN_FLAGS="--epochs 1" or "--truncation right").

TRAIN_FLAGS  ?=
TRAIN_SEED   ?= 42
ADAPTER_DIR  := $(RUNS_DIR)/$(RUN)/adapter

$(ADAPTER_DIR)/adapter_model.safetensors: $(DATA_DIR)/train.jsonl.zst $(DATA_DIR)/val.jsonl.zst | build model
	$(BIN)/pp-train --model $(MODEL_GGUF) --train $(DATA_DIR)/train.jsonl.zst --eval $(DATA_DIR)/val.jsonl.zst \
	  --seed $(TRAIN_SEED) $(TRAIN_FLAGS) -o $(ADAPTER_DIR)

$(RUNS_DIR)/$(RUN)/eval-base.jsonl: $(DATA_DIR)/val.jsonl.zst | build model
	$(BIN)/pp-train --model $(MODEL_GGUF) --train $(DATA_DIR)/val.jsonl.zst --eval-only -o $@

.PHONY: adapter eval-base bench-train
adapter: $(ADAPTER_DIR)/adapter_model.safetensors
eval-base: $(RUNS_DIR)/$(RUN)/eval-base.jsonl

bench-train: $(DATA_DIR)/train.jsonl.zst | build model $(REFENV)/.complete
	$(REFENV_PYTHON) scripts/bench/train_bench.py --gguf $(MODEL_GGUF) --examples $(DATA_DIR)/train.jsonl.zst \
	  --pp-train $(BIN)/pp-train --threads 2

DEMO_TARGETS  += $(ADAPTER_DIR)/adapter_model.safetensors
BENCH_TARGETS += bench-train
