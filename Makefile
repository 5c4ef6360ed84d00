# Two commands for a newcomer: `make demo` (summarize a sample book, offline) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
SAMPLE ?= samples/the-lighthouse-keepers-ledger.epub

.PHONY: setup demo test test-all lint bench clean passkey-tiny

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)" || $(PY) -m pip install --quiet torch
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/bookreader summarize $(SAMPLE) --length short

test: setup
	$(BIN)/python -m pytest -m "not slow" -q

test-all: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Retrain models/passkey-tiny from scratch: five curriculum stages, about 1 h 45 min on one CPU
# core; stages 2-5 read their haystack books from ../shared/corpus (the shared corpus beside the
# repository).
passkey-tiny: setup
	$(BIN)/bookreader train models/passkey-tiny/stage1.toml
	$(BIN)/bookreader train models/passkey-tiny/stage2.toml
	$(BIN)/bookreader train models/passkey-tiny/stage3.toml
	$(BIN)/bookreader train models/passkey-tiny/stage4.toml
	$(BIN)/bookreader train models/passkey-tiny/stage5.toml
	cp runs/passkey-tiny-stage5/model/config.json runs/passkey-tiny-stage5/model/model.safetensors models/passkey-tiny/

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
