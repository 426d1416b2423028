# pp-contrast: statistics of the top-attributed rows vs the rest (docs/pp-contrast.md).
#
#   make contrast-demo        pp-contrast on synthetic inputs (scripts/contrast_synthetic.py) into
#                             $(CONTRAST_DEMO_DIR): report.json, report.html and manifests
#   make contrast-screenshot  renders $(CONTRAST_HTML) (default: the demo report) with headless
#                             Chromium into a PNG next to it
#   make bench-contrast       100k rows x 16k features x 10 stats, pp-contrast vs the numpy/scipy/
#                             scikit-learn reference (scripts/reference/contrast_reference.py)
#   make chromium-deps        apt-installs Debian's chromium when missing (the HTML render test)
#   make contrast-goldens     regenerates Tests/Fixtures/contrast/ (needs the reference env)

CONTRAST_DEMO_DIR  ?= $(RUNS_DIR)/contrast-demo
CONTRAST_HTML      ?= $(CONTRAST_DEMO_DIR)/report.html
CONTRAST_BENCH_DIR ?= $(RUNS_DIR)/bench/contrast
CONTRAST_BENCH_N   ?= 100000
CONTRAST_BENCH_D   ?= 16384
CONTRAST_BENCH_K   ?= 1000
# The reference side needs numpy, scipy and scikit-learn: the reference env (mk/reference.mk).
CONTRAST_PY        ?= $(REFENV_PYTHON)

CI_PREREQS    += chromium-deps
BENCH_TARGETS += bench-contrast

.PHONY: contrast-build contrast-demo contrast-screenshot bench-contrast chromium-deps contrast-goldens

contrast-build:
	$(SWIFT) build -c release --product pp-contrast

chromium-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "make chromium-deps: installing chromium" >&2; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium; }

$(CONTRAST_DEMO_DIR)/scores.jsonl: scripts/contrast_synthetic.py
	$(PYTHON3) scripts/contrast_synthetic.py --out $(CONTRAST_DEMO_DIR) --n 3000 --d 2048 --layers 3

contrast-demo: contrast-build $(CONTRAST_DEMO_DIR)/scores.jsonl
	$(BIN)/pp-contrast --scores $(CONTRAST_DEMO_DIR)/scores.jsonl \
	  $$(ls -d $(CONTRAST_DEMO_DIR)/layer_* | sort -V | sed 's/^/--sae /') \
	  --top-k 150 --residualize seq_len --seed 42 \
	  -o $(CONTRAST_DEMO_DIR)/report.json --html $(CONTRAST_DEMO_DIR)/report.html

contrast-screenshot: chromium-deps
	@[ -f "$(CONTRAST_HTML)" ] || $(MAKE) contrast-demo
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,3400 \
	  --screenshot=$(abspath $(basename $(CONTRAST_HTML))).png file://$(abspath $(CONTRAST_HTML)) 2>/dev/null
	@echo "$(basename $(CONTRAST_HTML)).png"

$(CONTRAST_BENCH_DIR)/scores.jsonl: scripts/contrast_synthetic.py
	$(PYTHON3) scripts/contrast_synthetic.py --out $(CONTRAST_BENCH_DIR) \
	  --n $(CONTRAST_BENCH_N) --d $(CONTRAST_BENCH_D) --layers 1

bench-contrast: contrast-build $(CONTRAST_BENCH_DIR)/scores.jsonl | $(REFENV)/.complete
	$(PYTHON3) scripts/contrast_bench.py --pp $(BIN)/pp-contrast --py $(CONTRAST_PY) \
	  --data $(CONTRAST_BENCH_DIR) --top-k $(CONTRAST_BENCH_K)

contrast-goldens:
	@[ -x "$(CONTRAST_PY)" ] || $(MAKE) reference-env
	$(CONTRAST_PY) scripts/reference/contrast_goldens.py
