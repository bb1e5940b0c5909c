# The verbs people type. `make serve` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install index serve test test-quick lint format bench docker-test clean

install: $(STAMP)

# Re-runs only when pyproject.toml changes; provisioning the model is idempotent on its own.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/rag model
	touch $(STAMP)

index: install
	$(BIN)/rag index

serve: index
	$(BIN)/rag serve

test: install
	$(BIN)/pytest

test-quick: install
	$(BIN)/pytest -m "not benchmark and not browser"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench

docker-test:
	bash docker/test.sh

clean:
	rm -rf $(VENV) index/*.json index/*.faiss index/*.npy index/bm25 reports
