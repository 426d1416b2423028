# playpen-attribution: build, test, benchmark, CI and the pipeline's artifacts.
#
#   make demo     the main job: builds the tools and makes every artifact of $(DEMO_TARGETS)
#   make test     the test suite (swift test -c release), what CI runs
#   make build    swift build -c release
#   make bench    every benchmark registered in $(BENCH_TARGETS)
#   make ci       what .ci/run runs: apt packages, $(CI_PREREQS), then the tests
#   make deps     apt-installs the system packages when missing
#
# Each area adds its targets in mk/<area>.mk and registers them with
#   CI_PREREQS += <target>      (run by `make ci` before the tests, e.g. fetching the model)
#   BENCH_TARGETS += <target>   (run by `make bench`)
#   DEMO_TARGETS += <artifact>  (made by `make demo`, in pipeline order)

SHELL       := /bin/bash
SWIFT       ?= swift
PYTHON3     ?= python3
# Shared data (taboo_real.jsonl.zst, instances) lives beside the repository: ../shared.
SHARED_DIR  ?= ../shared
RUN         ?= demo
RUNS_DIR    ?= runs
BIN         ?= .build/release
# The Python reference env (mk/reference.mk makes it); defined here so every mk file sees it.
REFENV        ?= .cache/refenv
REFENV_PYTHON := $(REFENV)/bin/python

# System packages: BLAS/LAPACK and zstd for the build; the zstd tool, python3 and numpy for
# the format tests (they check our files against numpy and the zstd CLI).
APT_PACKAGES ?= libopenblas-dev libzstd-dev zstd python3 python3-numpy python3-jsonschema

CI_PREREQS    :=
BENCH_TARGETS :=
DEMO_TARGETS  :=

.DEFAULT_GOAL := build
-include mk/*.mk

.PHONY: build test bench ci deps demo clean help

build: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) test -c release

bench: build $(BENCH_TARGETS)

ci: deps $(CI_PREREQS)
	$(MAKE) test

demo: build $(DEMO_TARGETS)
	@echo "make demo: built the tools$(if $(strip $(DEMO_TARGETS)), and made:,; no pipeline artifacts are registered yet (DEMO_TARGETS is empty).)"
	@for t in $(DEMO_TARGETS); do echo "  $$t"; done

deps:
	@if command -v dpkg >/dev/null 2>&1; then \
	  missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "make deps: installing$$missing" >&2; \
	    sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	    $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	  fi; \
	fi

clean:
	rm -rf .build

help:
	@sed -n '2,14p' Makefile
