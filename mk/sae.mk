# SAE stage (helper sae): a TopK SAE trained on the 270M's resid_post, per-sample SAE arrays for
# several layers with layer summaries and feature contexts, and the SAE benchmark.
#
#   make sae          train one SAE per layer in $(SAE_LAYERS) (width $(SAE_WIDTH), k $(SAE_K)) on the
#                     train examples, then extract per-sample arrays + summaries + contexts for all of
#                     them in one run: $(SAE_DIR)/samples/layer_<L>_width_<W>/
#   make bench-sae    extraction tokens/s (1 and 4 layers, 16k JumpReLU) and SAE training tokens/s and
#                     peak RSS, next to a PyTorch reference (needs the reference env: make reference-env,
#                     or REFENV=/path/to/venv); N=8 examples, THREADS=2 by default
#
# Extraction follows the original (full "ROLE: content" text, 384 tokens, base model) except that the
# demo leaves BOS out of the statistics (--exclude-bos): BOS's outlier norm otherwise fills the
# top-feature lists. Set SAE_EXTRACT_FLAGS= to match the original exactly.

SAE_LAYERS        ?= 6 9 12
SAE_WIDTH         ?= 4096
SAE_K             ?= 32
SAE_EPOCHS        ?= 20
SAE_LR            ?= 1e-3
SAE_BATCH         ?= 2048
SAE_SEED          ?= 42
SAE_TRAIN_FLAGS   ?=
SAE_EXTRACT_FLAGS ?= --exclude-bos --activation-mean --top-contexts 8 --ranking-metric mean_activation
SAE_DIR            = $(RUNS_DIR)/$(RUN)/sae
SAE_EXAMPLES      ?= $(RUNS_DIR)/$(RUN)/data/train.jsonl.zst
SAE_MODELS         = $(foreach l,$(SAE_LAYERS),$(SAE_DIR)/layer_$(l)_width_$(SAE_WIDTH)/config.json)

$(SAE_DIR)/layer_%_width_$(SAE_WIDTH)/config.json: $(SAE_EXAMPLES) | build model
	@mkdir -p $(SAE_DIR)
	$(BIN)/pp-sae train --model $(MODEL_GGUF) --examples $(SAE_EXAMPLES) --layer $* --d-sae $(SAE_WIDTH) \
	  --k $(SAE_K) --epochs $(SAE_EPOCHS) --lr $(SAE_LR) --batch-tokens $(SAE_BATCH) --seed $(SAE_SEED) \
	  $(SAE_TRAIN_FLAGS) -o $(@D)

$(SAE_DIR)/samples/.done: $(SAE_MODELS) $(SAE_EXAMPLES) | build model
	@mkdir -p $(@D)
	$(BIN)/pp-sae extract --model $(MODEL_GGUF) --examples $(SAE_EXAMPLES) \
	  $(foreach l,$(SAE_LAYERS),--sae $(SAE_DIR)/layer_$(l)_width_$(SAE_WIDTH)) $(SAE_EXTRACT_FLAGS) -o $(@D)
	@touch $@

.PHONY: sae bench-sae
sae: $(SAE_DIR)/samples/.done

bench-sae: | build model $(REFENV)/.complete
	PP_TABOO=$(SHARED_DIR)/data/taboo_real.jsonl.zst $(REFENV_PYTHON) scripts/bench/sae_bench.py

DEMO_TARGETS  += sae
BENCH_TARGETS += bench-sae
