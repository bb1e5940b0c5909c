# The verbs people type. `make serve` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install index serve test test-quick browser lint format bench eval bench-scale reader reader-kit verifier docker-test clean

install: $(STAMP)

# Re-runs only when pyproject.toml changes; provisioning the model, and its, the verifier's and the reader's ONNX
# exports for RAG_RUNTIME=onnx (README, "Runtime"), is idempotent on its own.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,qdrant,export]'
	$(BIN)/rag model
	RAG_RUNTIME=onnx RAG_READER=on $(BIN)/rag model >/dev/null
	touch $(STAMP)

index: install
	$(BIN)/rag index

serve: index
	$(BIN)/rag serve

test: install browser
	$(BIN)/pytest

# The browser tests drive Debian's chromium (Playwright's own download does not work offline).
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null; } || \
	  { echo "the browser tests need chromium: sudo apt-get install chromium fonts-noto-cjk"; exit 1; }

test-quick: install
	$(BIN)/pytest -m "not benchmark and not browser"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: index
	$(BIN)/python -m bench

# Every question set in benchmarks/ through the service as it serves: one row of figures per set (about ten seconds here).
eval: index
	$(BIN)/rag eval --no-ablation $(addprefix --questions ,$(sort $(wildcard benchmarks/*.jsonl))) --output reports/eval-sets.json

# The embedded Qdrant engine at 100k and 1M chunks (synthetic vectors; `--vectors real` for e5 ones).
bench-scale: install
	$(BIN)/python -m bench.scale --sizes 100000 1000000

# Retrains the reader (rag/models/) from ../shared/datasets: about an hour on 2 cores, fixed seed.
DATASETS ?= ../shared/datasets
reader: install
	$(BIN)/python -m rag.training.train --datasets $(DATASETS) --out rag/models

# Packs a twelve-layer reader's training (three epochs over all 58,077 pairs) into build/kit, 31 MiB, for a lent GPU
# machine (rag/training/kit.py; README, "The reader": "On a lent GPU"). About two minutes here.
reader-kit: install
	$(BIN)/python -m rag.training.kit pack --datasets $(DATASETS) --out build/kit

# Retrains the verifier (rag/models/verifier.*) on the reader in rag/models, then refits its coverage model
# (rag/calibration-verified.json): about 30 minutes on 2 cores, fixed seed. Run it after `make reader`.
# VERIFIER_READ: how many of the scorer's first sentences it is trained to read (1 as shipped; docs/tuning.md).
# VERIFIER_LANGUAGES: XQuAD 1-18's questions in more languages to train on, e.g. de,es,ru (none as shipped).
VERIFIER_WORK ?= build/verifier
VERIFIER_READ ?= 1
VERIFIER_LANGUAGES ?=
verifier: index
	$(BIN)/python -m rag.training.verifier collect --datasets $(DATASETS) --out $(VERIFIER_WORK) --languages=$(VERIFIER_LANGUAGES)
	$(BIN)/python -m rag.training.verifier train --out $(VERIFIER_WORK) --read $(VERIFIER_READ)
	$(BIN)/python -m rag.training.verifier judge --out $(VERIFIER_WORK)
	cp $(VERIFIER_WORK)/verifier.safetensors $(VERIFIER_WORK)/verifier.json rag/models/
	RAG_VERIFIER=on $(BIN)/python bench/calibrate.py --write

docker-test:
	bash docker/test.sh

clean:
	rm -rf $(VENV) index/*.json index/*.faiss index/*.npy index/bm25 reports
