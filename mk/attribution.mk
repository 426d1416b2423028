# Attribution (pp-score; pp-grad's gradient computation comes with the model's backward pass).
#
#   make bench-attribution   pp-score over a synthetic gradient stream of $(ATTR_BENCH_ROWS) rows in the
#                            Gemma-3 270M LoRA layout (252 modules x 32x32 = 1 MB per row), next to a numpy
#                            reference of the same cosine scores in the same command: GB/s and peak RSS.
#   make bench-attribution-mixed  the same with mixed preconditioners (setup: 252 inverses of 1024 x 1024)
#   make attribution-scores  $(ATTR_RUN)/train_scores.jsonl (+ ranked examples) from pp-grad's outputs
#   make attribution-compare rank agreement of the none/query/index/mixed scores
#
# Pipeline artifacts (pp-grad writes the inputs; see docs/pp-score.md):
#   $(ATTR_RUN)/query_grads.ppt, query_precond.safetensors   pp-grad on the validation rows
#   $(ATTR_RUN)/train_grads.ppt, train_precond.safetensors   pp-grad on the train rows

ATTR_RUN         ?= $(RUNS_DIR)/$(RUN)
ATTR_EXAMPLES    ?= $(ATTR_RUN)/data/train.jsonl.zst
ATTR_TOP_K       ?= 100
ATTR_SEMANTICS   ?= bergson-0.5
ATTR_BENCH_DIR   ?= .cache/bench-attribution
ATTR_BENCH_ROWS  ?= 1000

BENCH_TARGETS += bench-attribution

.PHONY: bench-attribution attribution-scores attribution-compare

$(ATTR_BENCH_DIR)/train.ppt: scripts/attribution_bench.py
	$(PYTHON3) scripts/attribution_bench.py make $(ATTR_BENCH_DIR) $(ATTR_BENCH_ROWS)

bench-attribution: $(ATTR_BENCH_DIR)/train.ppt
	$(SWIFT) build -c release --product pp-score >/dev/null
	@cat $(ATTR_BENCH_DIR)/train.ppt > /dev/null   # both sides read from the page cache
	@echo "== pp-score (bergson-0.5, no preconditioner, --threads 2), $(ATTR_BENCH_ROWS) rows of 1 MB"
	@/usr/bin/time -f "pp-score: wall %e s, peak RSS %M KB" $(BIN)/pp-score --train $(ATTR_BENCH_DIR)/train.ppt \
	  --query $(ATTR_BENCH_DIR)/query.ppt -o $(ATTR_BENCH_DIR)/scores.jsonl --threads 2
	@echo "== numpy reference (memory-mapped stream, chunks of 64 rows)"
	@/usr/bin/time -f "numpy: wall %e s, peak RSS %M KB (includes mapped file pages)" \
	  $(PYTHON3) scripts/attribution_bench.py score $(ATTR_BENCH_DIR) $(ATTR_BENCH_DIR)/numpy_scores.npy
	@$(PYTHON3) -c "import json, numpy as np; \
	  a = np.array([json.loads(l)['score'] for l in open('$(ATTR_BENCH_DIR)/scores.jsonl')], np.float32); \
	  b = np.load('$(ATTR_BENCH_DIR)/numpy_scores.npy'); \
	  print('max |pp-score - numpy| = %.3g over %d rows' % (np.abs(a - b).max(), len(a)))"

$(ATTR_RUN)/train_scores.jsonl: $(ATTR_RUN)/train_grads.ppt $(ATTR_RUN)/query_grads.ppt \
    $(ATTR_RUN)/query_precond.safetensors $(ATTR_RUN)/train_precond.safetensors
	$(BIN)/pp-score --train $(ATTR_RUN)/train_grads.ppt --query $(ATTR_RUN)/query_grads.ppt \
	  --query-preconditioner $(ATTR_RUN)/query_precond.safetensors \
	  --index-preconditioner $(ATTR_RUN)/train_precond.safetensors --preconditioning mixed \
	  --semantics $(ATTR_SEMANTICS) -o $@ --top-k $(ATTR_TOP_K) --examples $(ATTR_EXAMPLES) \
	  --ranked $(ATTR_RUN)/ranked_examples.json

attribution-scores: $(ATTR_RUN)/train_scores.jsonl

$(ATTR_RUN)/scores_%.jsonl: $(ATTR_RUN)/train_grads.ppt $(ATTR_RUN)/query_grads.ppt \
    $(ATTR_RUN)/query_precond.safetensors $(ATTR_RUN)/train_precond.safetensors
	$(BIN)/pp-score --train $(ATTR_RUN)/train_grads.ppt --query $(ATTR_RUN)/query_grads.ppt \
	  --query-preconditioner $(ATTR_RUN)/query_precond.safetensors \
	  --index-preconditioner $(ATTR_RUN)/train_precond.safetensors --preconditioning $* \
	  --semantics $(ATTR_SEMANTICS) -o $@

$(ATTR_RUN)/score_comparison.json: $(foreach m,none query index mixed,$(ATTR_RUN)/scores_$(m).jsonl)
	$(BIN)/pp-score compare $^ --k 100 --k 500 -o $@

attribution-compare: $(ATTR_RUN)/score_comparison.json

# The original pipeline's setting (bergson-0.5, mixed query/train preconditioners) on the same stream:
# 252 second-moment matrices of 1024 x 1024 per side (1 GB each), inverted once before streaming.
.PHONY: bench-attribution-mixed
$(ATTR_BENCH_DIR)/query_precond.safetensors: scripts/attribution_bench.py
	$(PYTHON3) scripts/attribution_bench.py moments $(ATTR_BENCH_DIR)

bench-attribution-mixed: $(ATTR_BENCH_DIR)/train.ppt $(ATTR_BENCH_DIR)/query_precond.safetensors
	$(SWIFT) build -c release --product pp-score >/dev/null
	@/usr/bin/time -f "pp-score mixed: wall %e s, peak RSS %M KB" $(BIN)/pp-score --train $(ATTR_BENCH_DIR)/train.ppt \
	  --query $(ATTR_BENCH_DIR)/query.ppt --query-preconditioner $(ATTR_BENCH_DIR)/query_precond.safetensors \
	  --index-preconditioner $(ATTR_BENCH_DIR)/train_precond.safetensors -o $(ATTR_BENCH_DIR)/scores_mixed.jsonl --threads 2

