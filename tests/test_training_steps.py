"""The reader's training steps: batches, the loss, the epochs, and that they need only torch and transformers."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from rag.config import Settings
from rag.embedding import resolve_model_path
from rag.rankers.readernet import ReaderNet, build_net
from rag.training.steps import Optimisation, Pair, batches, epochs, loss_of
from rag.types import Candidate

# What a lent GPU machine lacks (its Python has torch and transformers): importing the steps must not need them.
NOT_THERE = ("faiss", "jieba", "Stemmer", "opencc", "wordfreq", "langchain_text_splitters", "fastapi")


def _pairs(n: int) -> list[Pair]:
    out = []
    for i in range(n):
        sentence = f"深度求索公司成立于{2000 + i}年。"
        answer = (9, 13) if i % 2 == 0 else None
        out.append(Pair(f"深度求索哪一年成立？{i}", Candidate("深度求索", "", sentence), int(i % 2 == 0), answer))
    return out


@pytest.fixture(scope="module")
def model() -> tuple[ReaderNet, PreTrainedTokenizerBase]:
    model_dir = Path(resolve_model_path(Settings.from_env()))
    torch.manual_seed(0)
    return build_net(model_dir, 1), AutoTokenizer.from_pretrained(str(model_dir))


def test_batches_hold_every_pair_once_in_batches_of_the_size() -> None:
    pairs = _pairs(10)
    out = list(batches(pairs, 4, random.Random(0)))
    assert sorted(len(b) for b in out) == [2, 4, 4]
    assert sorted(p.question for b in out for p in b) == sorted(p.question for p in pairs)


def test_the_loss_counts_the_answer_span(model: tuple[ReaderNet, PreTrainedTokenizerBase]) -> None:
    net, tokenizer = model
    with torch.no_grad():
        with_span = loss_of(net, tokenizer, _pairs(2))
        without = loss_of(net, tokenizer, [Pair(p.question, p.candidate, p.label) for p in _pairs(2)])
    assert float(with_span) > float(without) > 0.0


def test_epochs_train_the_layers_not_the_embeddings(model: tuple[ReaderNet, PreTrainedTokenizerBase]) -> None:
    net, tokenizer = model
    words = net.encoder.embeddings.word_embeddings.weight.detach().clone()
    layer = net.encoder.encoder.layer[0].output.dense.weight.detach().clone()
    seen = []
    for epoch in epochs(net, tokenizer, _pairs(8), Optimisation(2, 4, 1e-4, 1e-3), random.Random(0)):
        seen.append((epoch, net.training))
    assert seen == [(1, False), (2, False)]  # eval mode while the caller measures
    assert torch.equal(net.encoder.embeddings.word_embeddings.weight, words)
    assert not torch.equal(net.encoder.encoder.layer[0].output.dense.weight, layer)


@pytest.mark.parametrize("module", ["rag.training.steps", "rag.training.kit"])
def test_what_runs_on_a_device_imports_without_the_services_libraries(module: str) -> None:
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {NOT_THERE!r}:\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"import {module}\n"
    )
    result = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
