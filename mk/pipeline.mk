# The whole chain (helper pipeline): `make demo` glue, pp-eval, the selection experiment, reruns.
#
#   make demo                 data -> LoRA SFT -> query/train gradients + preconditioners -> scores + ranked
#                             examples -> SAEs (small) -> per-sample SAE arrays for $(SAE_LAYERS) -> contrast
#                             -> HTML report, then word success of the base model and the adapter
#   make eval                 pp-eval word success (base + adapter) and game replay on $(EVAL_EXAMPLES)
#   make selection            top-k vs matched-random subset (same token budget) [+ ranks k..2k]: fine-tune
#                             each from the same start, pp-eval each, one table (docs/selection.md)
#   make rerun MANIFEST=path  re-run the command recorded in an artifact's manifest (argv), from the repo root
#   make demo-paths           print where every artifact and the report are
#
# Every knob is a make variable. The demo is sized for ~2 cores (270M GGUF, $(TRAIN_EPOCHS) epoch, small SAEs);
# the original's full-size configuration on a bigger machine:
#   make demo MODEL_GGUF=/path/gemma-3-1b-it DATA=playpen-interactions-train.jsonl TRAIN_EPOCHS=3 \
#        SAE_WIDTH=16384 SAE_LAYERS="7 13 17 22" GRAD_PROJECTION=32 CONTRAST_TOP_K=100
# (the Hugging Face export's own splits, the 1B directory and what they cost: docs/full-scale.md).

# Prerequisites that name variables of mk files read later (sae.mk's SAE_DIR, the full DEMO_TARGETS) are written
# $$(...) and expanded a second time, after every mk file is read.
.SECONDEXPANSION:

RUN_DIR          = $(RUNS_DIR)/$(RUN)
TRAIN_EXAMPLES  ?= $(RUN_DIR)/data/train.jsonl.zst
VAL_EXAMPLES    ?= $(RUN_DIR)/data/val.jsonl.zst
# The validation rows are split by task once more, as the original's later setup did: the attribution query
# (about 1 - EVAL_FRACTION of its tasks) and the held-out evaluation rows, so that no task is in both. Tasks are
# assigned by hash, so the realised sizes vary with the seed; on the demo's 33 validation rows (10 tasks,
# SPLIT_SEED 4) seed 6 gives 12 query / 21 evaluation rows (seed 0: 18 / 15, seed 8: 27 / 6).
EVAL_FRACTION   ?= 0.6
QUERY_SPLIT_SEED ?= 6
QUERY_EXAMPLES  ?= $(RUN_DIR)/data/query.jsonl.zst
EVAL_EXAMPLES   ?= $(RUN_DIR)/data/eval.jsonl.zst

# pp-train: mk/train.mk makes $(RUN_DIR)/adapter (pp-train's defaults are the original's: r 16, alpha 32, dropout
# 0.05, all 7 projections, lr 1e-4 cosine, warm-up 3%, batch 4 x 4, max length 384, best adapter by eval loss on
# the validation rows, seed $(TRAIN_SEED)); the demo only shortens it to TRAIN_EPOCHS (the original: 3).
TRAIN_EPOCHS    ?= 1
TRAIN_FLAGS     ?= --epochs $(TRAIN_EPOCHS) --threads $(PP_THREADS)
TRAIN_SEED      ?= 42
ADAPTER          = $(RUN_DIR)/adapter

# pp-grad / pp-score (the original's best setup: mean query, unit-normalised, projection 32). The file names are
# mk/attribution.mk's, whose rule makes $(SCORES) (mixed preconditioning, ATTR_SEMANTICS, ranked examples).
GRAD_PROJECTION ?= 32
GRAD_FLAGS      ?=
QUERY_GRADS      = $(RUN_DIR)/query_grads.ppt
QUERY_PRECOND    = $(RUN_DIR)/query_precond.safetensors
TRAIN_GRADS      = $(RUN_DIR)/train_grads.ppt
TRAIN_PRECOND    = $(RUN_DIR)/train_precond.safetensors
SCORES           = $(RUN_DIR)/train_scores.jsonl
RANKED           = $(RUN_DIR)/ranked_examples.json

# pp-contrast (top-k by score vs the rest, grouped split by task)
CONTRAST_TOP_K  ?= 20
CONTRAST_FLAGS  ?= --bootstrap 200 --permutations 200
CONTRAST         = $(RUN_DIR)/contrast.json
REPORT           = $(RUN_DIR)/report.html
SAE_SAMPLE_DIRS  = $(foreach l,$(SAE_LAYERS),L$(l)=$(SAE_DIR)/samples/layer_$(l)_width_$(SAE_WIDTH))

# pp-eval
EVAL_FLAGS      ?=
EVAL_DIR         = $(RUN_DIR)/eval
DEMO_EVAL       ?= 1

PP_THREADS      ?= 0

# ---- query / evaluation split of the validation rows (task-level, pp-filter on its own records) ---------
$(EVAL_EXAMPLES): $(VAL_EXAMPLES) | build
	$(BIN)/pp-filter $(VAL_EXAMPLES) --val-fraction $(EVAL_FRACTION) --seed $(QUERY_SPLIT_SEED) --select validation \
	  --quiet -o $@

$(QUERY_EXAMPLES): $(VAL_EXAMPLES) | build
	$(BIN)/pp-filter $(VAL_EXAMPLES) --val-fraction $(EVAL_FRACTION) --seed $(QUERY_SPLIT_SEED) --select train \
	  --quiet -o $@

# ---- attribution ------------------------------------------------------------------------------------------
# pp-grad writes the gradient rows and, with --preconditioner, the second moments beside them.
$(QUERY_PRECOND): $(QUERY_GRADS)
$(QUERY_GRADS): $(ADAPTER)/adapter_model.safetensors $(QUERY_EXAMPLES) | build model
	$(BIN)/pp-grad --model $(MODEL_GGUF) --adapter $(ADAPTER) --examples $(QUERY_EXAMPLES) \
	  --projection-dim $(GRAD_PROJECTION) --reduce mean --unit-normalize \
	  --preconditioner $(QUERY_PRECOND) --threads $(PP_THREADS) $(GRAD_FLAGS) -o $@

$(TRAIN_PRECOND): $(TRAIN_GRADS)
$(TRAIN_GRADS): $(ADAPTER)/adapter_model.safetensors $(TRAIN_EXAMPLES) | build model
	$(BIN)/pp-grad --model $(MODEL_GGUF) --adapter $(ADAPTER) --examples $(TRAIN_EXAMPLES) \
	  --projection-dim $(GRAD_PROJECTION) --preconditioner $(TRAIN_PRECOND) --threads $(PP_THREADS) $(GRAD_FLAGS) -o $@

.PHONY: scores
scores: $(SCORES)

# ---- contrast + report ------------------------------------------------------------------------------------
$(CONTRAST): $(SCORES) $$(SAE_DIR)/samples/.done | build
	$(BIN)/pp-contrast --scores $(SCORES) $(foreach s,$(SAE_SAMPLE_DIRS),--sae $(s)) --top-k $(CONTRAST_TOP_K) \
	  $(CONTRAST_FLAGS) --html $(REPORT) -o $@

.PHONY: contrast
contrast: $(CONTRAST)

# ---- pp-eval ----------------------------------------------------------------------------------------------
$(EVAL_DIR)/base.words.jsonl: $(EVAL_EXAMPLES) | build model
	@mkdir -p $(@D)
	$(BIN)/pp-eval words --model $(MODEL_GGUF) --examples $(EVAL_EXAMPLES) --threads $(PP_THREADS) $(EVAL_FLAGS) \
	  --summary $(@:.jsonl=.summary.json) -o $@

$(EVAL_DIR)/adapter.words.jsonl: $(EVAL_EXAMPLES) $(ADAPTER)/adapter_model.safetensors | build model
	@mkdir -p $(@D)
	$(BIN)/pp-eval words --model $(MODEL_GGUF) --adapter $(ADAPTER) --examples $(EVAL_EXAMPLES) --threads $(PP_THREADS) \
	  $(EVAL_FLAGS) --summary $(@:.jsonl=.summary.json) -o $@

$(EVAL_DIR)/%.game.jsonl: $(EVAL_EXAMPLES) $(ADAPTER)/adapter_model.safetensors | build model
	@mkdir -p $(@D)
	$(BIN)/pp-eval game --model $(MODEL_GGUF) $(if $(filter adapter,$*),--adapter $(ADAPTER)) --examples $(EVAL_EXAMPLES) \
	  --threads $(PP_THREADS) $(EVAL_FLAGS) --summary $(@:.jsonl=.summary.json) -o $@

.PHONY: eval
eval: $(EVAL_DIR)/base.words.jsonl $(EVAL_DIR)/adapter.words.jsonl $(EVAL_DIR)/base.game.jsonl $(EVAL_DIR)/adapter.game.jsonl

# ---- demo registration, in pipeline order (data.mk registered the data files, sae.mk `sae`) ---------------
# (mk/train.mk registers the adapter; the query split comes first so that pp-grad finds it.)
DEMO_TARGETS += $(QUERY_EXAMPLES) $(EVAL_EXAMPLES) $(QUERY_GRADS) $(TRAIN_GRADS) $(SCORES) $(CONTRAST)
ifeq ($(DEMO_EVAL),1)
DEMO_TARGETS += $(EVAL_DIR)/base.words.jsonl $(EVAL_DIR)/adapter.words.jsonl
endif
DEMO_TARGETS += demo-summary

# demo-summary runs after every other demo artifact (second expansion: mk files read later registered theirs too).
.PHONY: demo-summary demo-paths
demo-summary: $$(filter-out demo-summary,$$(DEMO_TARGETS))
	@$(MAKE) --no-print-directory demo-paths

demo-paths:
	@echo
	@echo "make demo: artifacts of run '$(RUN)' ($(RUN_DIR)/)"
	@for f in $(TRAIN_EXAMPLES) $(VAL_EXAMPLES) $(QUERY_EXAMPLES) $(EVAL_EXAMPLES) $(ADAPTER) $(QUERY_GRADS) $(QUERY_PRECOND) $(TRAIN_GRADS) $(TRAIN_PRECOND) \
	  $(SCORES) $(RANKED) $(foreach l,$(SAE_LAYERS),$(SAE_DIR)/layer_$(l)_width_$(SAE_WIDTH)) \
	  $(foreach l,$(SAE_LAYERS),$(SAE_DIR)/samples/layer_$(l)_width_$(SAE_WIDTH)) $(CONTRAST) \
	  $(EVAL_DIR)/base.words.summary.json $(EVAL_DIR)/adapter.words.summary.json; do \
	  if [ -e "$$f" ]; then printf '  %-64s %s\n' "$$f" "$$(du -sh "$$f" | cut -f1)"; fi; done
	@for s in base adapter; do f=$(EVAL_DIR)/$$s.words.summary.json; [ -f $$f ] && \
	  $(PYTHON3) -c "import json,sys; s=json.load(open(sys.argv[1])); t=s['vs_target']; print('  word success (%s): %d/%d = %.3f [%.3f, %.3f]' % (sys.argv[2], t['correct'], t['total'], t['accuracy'], *t['ci95_wilson']))" $$f $$s || true; done
	@echo "  report: $(abspath $(REPORT))"

# ---- rerun an artifact from its manifest ------------------------------------------------------------------
# Every tool writes <artifact>.manifest.json with "argv" (the command as typed, relative to the directory it
# ran in: the repository root for make targets). `make rerun MANIFEST=runs/demo/scores.jsonl.manifest.json`
# runs that argv again with the freshly built tools in $(BIN); RERUN_FLAGS are appended (e.g. -o elsewhere).
RERUN_FLAGS ?=
RERUN_OPTIONS ?=
.PHONY: rerun
rerun: | build
	@test -n "$(MANIFEST)" || { echo "usage: make rerun MANIFEST=<artifact>.manifest.json [RERUN_FLAGS=...]" >&2; exit 2; }
	@$(PYTHON3) scripts/rerun.py --bin $(BIN) $(RERUN_OPTIONS) $(MANIFEST) -- $(RERUN_FLAGS)

# ---- the selection experiment (attribution.md 11.2; docs/selection.md) ----------------------------------------
# From the demo's ranking of the training pool: the top SEL_K rows, a matched-random subset of the rest with the
# same token budget, and (SEL_WINDOW=1) ranks k+1..2k; a fresh LoRA on each from the same start (same seed, the
# same PEFT initialisation and settings), each evaluated with pp-eval on $(EVAL_EXAMPLES); base model included.
SEL_K          ?= 40
SEL_SEED       ?= 0
SEL_WINDOW     ?= 1
SEL_EPOCHS     ?= $(TRAIN_EPOCHS)
SEL_TRAIN_FLAGS ?=
SEL_DIR         = $(RUN_DIR)/selection
SEL_SUBSETS     = top random $(if $(filter 1,$(SEL_WINDOW)),window)

$(SEL_DIR)/select.json: $(SCORES) $(TRAIN_EXAMPLES) | build model
	@mkdir -p $(@D)
	$(BIN)/pp-eval select --model $(MODEL_GGUF) --scores $(SCORES) --examples $(TRAIN_EXAMPLES) --k $(SEL_K) \
	  --seed $(SEL_SEED) --top $(SEL_DIR)/top.jsonl.zst --random $(SEL_DIR)/random.jsonl.zst \
	  $(if $(filter 1,$(SEL_WINDOW)),--window $(SEL_DIR)/window.jsonl.zst) --summary $@

$(SEL_DIR)/%/adapter/adapter_model.safetensors: $(SEL_DIR)/select.json | build model
	@mkdir -p $(SEL_DIR)/$*
	$(BIN)/pp-train --model $(MODEL_GGUF) --train $(SEL_DIR)/$*.jsonl.zst --epochs $(SEL_EPOCHS) --seed $(TRAIN_SEED) \
	  --threads $(PP_THREADS) $(SEL_TRAIN_FLAGS) -o $(SEL_DIR)/$*/adapter

# The subsets' adapters are reached only through these pattern rules: without .SECONDARY make deletes them as
# intermediate files once the table is made (leaving adapter_config.json without its weights).
.SECONDARY: $(foreach s,$(SEL_SUBSETS),$(SEL_DIR)/$(s)/adapter/adapter_model.safetensors)

$(SEL_DIR)/%/words.jsonl: $(SEL_DIR)/%/adapter/adapter_model.safetensors $(EVAL_EXAMPLES) | build model
	$(BIN)/pp-eval words --model $(MODEL_GGUF) --adapter $(SEL_DIR)/$*/adapter --examples $(EVAL_EXAMPLES) \
	  --threads $(PP_THREADS) $(EVAL_FLAGS) --summary $(@:.jsonl=.summary.json) -o $@

$(SEL_DIR)/table.md: $(EVAL_DIR)/base.words.jsonl $(EVAL_DIR)/adapter.words.jsonl \
    $(foreach s,$(SEL_SUBSETS),$(SEL_DIR)/$(s)/words.jsonl) | build
	$(BIN)/pp-eval table -o $@ base=$(EVAL_DIR)/base.words.summary.json \
	  full=$(EVAL_DIR)/adapter.words.summary.json \
	  $(foreach s,$(SEL_SUBSETS),$(s)=$(SEL_DIR)/$(s)/words.summary.json:$(SEL_DIR)/select.json:$(s))

.PHONY: selection
selection: $(SEL_DIR)/table.md
	@echo "selection experiment (k = $(SEL_K), seed $(SEL_SEED), $(SEL_EPOCHS) epoch(s)); evaluation rows: $(EVAL_EXAMPLES)"
	@cat $<

# pp-grad vs Bergson 2.5.1 on the CPU (per-example projected gradients of the demo run's adapter).
# Needs the reference env (make reference-env) and the demo's adapter and train examples.
BENCH_GRAD_ROWS ?= 8
.PHONY: bench-grad
bench-grad: $(ADAPTER)/adapter_model.safetensors $(TRAIN_EXAMPLES) | build model $(REFENV)/.complete
	$(REFENV_PYTHON) scripts/bench/grad_bench.py --gguf $(MODEL_GGUF) --adapter $(ADAPTER) \
	  --examples $(TRAIN_EXAMPLES) --pp-grad $(BIN)/pp-grad --rows $(BENCH_GRAD_ROWS) --threads $(BENCH_THREADS)
BENCH_TARGETS += bench-grad
