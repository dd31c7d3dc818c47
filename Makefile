# The two commands of the README:
#   make book   create the virtual environment, run every chapter at tiny scale with papermill, render _build/html
#   make test   the test suite: physics tests, parameter checks, nbval on the executed notebooks, book checks
# Other targets:
#   make chapter CHAPTER=foundations [SCALE=tiny|full] [DEVICE=auto|cpu|cuda]   run one chapter into _build/runs/<scale>/
#   make full CHAPTER=foundations                         the paper's settings (a GPU; resumable where long)
#   make dryrun [CHAPTER=...]                             build the full configurations, check sampling, estimate cost
#   make bench                                            speed against the bare-FFT floor (benchmarks/)

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
CHAPTERS := foundations sitzmann2018 kleiner2025 dko ho2024
SCALE ?= tiny
BUILD := _build
STAGE := $(BUILD)/book
RESULTS := $(CURDIR)/$(BUILD)/results
# a local dataset mirror, if there is one beside the repository (CI: ../shared/data); override freely
OPTLIB_DATA ?= $(wildcard $(abspath $(CURDIR)/../shared/data))
export OPTLIB_DATA
export OPTLIB_RESULTS_DIR := $(RESULTS)
export PYDEVD_DISABLE_FILE_VALIDATION := 1

chapter_src = $(firstword $(wildcard book/chapters/*_$(1).py))
chapter_nb = $(STAGE)/chapters/$(basename $(notdir $(call chapter_src,$(1)))).ipynb
NOTEBOOKS := $(foreach c,$(CHAPTERS),$(call chapter_nb,$(c)))
OPTLIB_SRC := $(shell find optlib papers -name '*.py')

.PHONY: book test venv vendor chapter full dryrun bench clean html notebooks
.DELETE_ON_ERROR:

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

vendor: book/_vendor/_static/vendor/.complete
book/_vendor/_static/vendor/.complete: book/fetch_vendor.sh
	bash book/fetch_vendor.sh

# one executed tiny notebook per chapter (papermill injects params/<id>/tiny.yaml)
define CHAPTER_RULE
$(call chapter_nb,$(1)): $(call chapter_src,$(1)) params/$(1)/tiny.yaml $(OPTLIB_SRC) $(VENV)/.installed
	@mkdir -p $$(@D) $(RESULTS)
	@echo "== chapter $(1) (tiny)"
	@start=$$$$(date +%s); \
	$(PY) -m papers check $(1) params/$(1)/tiny.yaml; \
	$(VENV)/bin/jupytext --to ipynb -o - $$< | $(VENV)/bin/papermill - $$@ -f params/$(1)/tiny.yaml \
	  -k python3 --cwd $$(@D) --no-progress-bar --log-level WARNING; \
	$(PY) book/hide_injected.py $$@; \
	echo "== chapter $(1): $$$$(( $$$$(date +%s) - start )) s"
endef
$(foreach c,$(CHAPTERS),$(eval $(call CHAPTER_RULE,$(c))))

notebooks: $(NOTEBOOKS)

$(STAGE)/library.ipynb: book/library.py $(OPTLIB_SRC) $(VENV)/.installed
	@mkdir -p $(@D)
	$(VENV)/bin/jupytext --to ipynb -o - $< | $(VENV)/bin/papermill - $@ -k python3 --cwd $(STAGE) \
	  --no-progress-bar --log-level WARNING

$(STAGE)/scoreboard.ipynb: book/scoreboard.py $(NOTEBOOKS)
	$(VENV)/bin/jupytext --to ipynb -o - $< | $(VENV)/bin/papermill - $@ -p results_dir $(RESULTS) \
	  -k python3 --cwd $(STAGE) --no-progress-bar --log-level WARNING

html: $(STAGE)/scoreboard.ipynb $(STAGE)/library.ipynb vendor
	cp _config.yml book/_toc.yml book/intro.md $(STAGE)/
	rm -rf $(STAGE)/_vendor && cp -r book/_vendor $(STAGE)/_vendor
	$(VENV)/bin/jupyter-book build $(STAGE) --path-output . -W --keep-going -q
	@echo "The book is in $(BUILD)/html/index.html"

book: venv html

test: book
	@export OPTLIB_REQUIRE_BOOK=1; \
	$(PY) -m pytest -q tests $(NOTEBOOKS) $(STAGE)/library.ipynb $(STAGE)/scoreboard.ipynb --nbval --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg

chapter: venv
	@test -n "$(call chapter_src,$(CHAPTER))" || { echo "unknown CHAPTER '$(CHAPTER)'; one of: $(CHAPTERS)"; exit 2; }
	@test -f params/$(CHAPTER)/$(SCALE).yaml || { echo "no params/$(CHAPTER)/$(SCALE).yaml"; exit 2; }
	$(PY) -m papers check $(CHAPTER) params/$(CHAPTER)/$(SCALE).yaml
	mkdir -p $(BUILD)/runs/$(SCALE)
	$(VENV)/bin/jupytext --to ipynb -o - $(call chapter_src,$(CHAPTER)) | $(VENV)/bin/papermill - \
	  $(BUILD)/runs/$(SCALE)/$(CHAPTER).ipynb -f params/$(CHAPTER)/$(SCALE).yaml $(if $(DEVICE),-p device $(DEVICE)) \
	  -k python3 --cwd $(BUILD)/runs/$(SCALE)

full:
	$(MAKE) chapter CHAPTER=$(CHAPTER) SCALE=full $(if $(DEVICE),DEVICE=$(DEVICE))

dryrun: venv
	$(PY) -m papers dryrun $(foreach c,$(or $(CHAPTER),$(CHAPTERS)),$(c)=params/$(c)/full.yaml)

bench: venv
	$(PY) benchmarks/bench_propagation.py
	$(PY) benchmarks/bench_rays.py
	$(PY) benchmarks/bench_meta.py

clean:
	rm -rf $(BUILD)
