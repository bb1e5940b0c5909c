"""The reader model: span decoding on hand-made logits, the shipped weights and their manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from rag.config import DEFAULT_MODEL, Settings
from rag.embedding import resolve_model_path
from rag.errors import ModelError
from rag.rankers.reader import reader_for
from rag.rankers.readernet import SCALES, load_reader, load_weights, packed, save_reader, save_weights
from rag.rankers.reading import (
    MANIFEST,
    MAX_ANSWER_TOKENS,
    VERIFIER_WEIGHTS,
    WEIGHTS,
    best_span,
    default_dir,
    read_manifest,
)
from rag.types import Candidate

OFFSETS = [(0, 0), (0, 2), (2, 4), (4, 6), (6, 8), (0, 0)]  # [CLS] four sentence tokens [SEP]
INSIDE = np.array([0, 1, 1, 1, 1, 0])


def test_the_best_span_is_the_highest_start_plus_end_inside_the_sentence() -> None:
    starts = np.array([9.0, 0.0, 3.0, 0.0, 0.0, 9.0])
    ends = np.array([9.0, 0.0, 0.0, 2.0, 0.0, 9.0])
    assert best_span(starts, ends, INSIDE, OFFSETS) == (2, 6)


def test_a_span_never_ends_before_it_starts() -> None:
    starts = np.array([0.0, 0.0, 0.0, 0.0, 9.0, 0.0])
    ends = np.array([0.0, 9.0, 0.0, 0.0, 1.0, 0.0])  # the best end lies before the best start
    assert best_span(starts, ends, INSIDE, OFFSETS) == (6, 8)


def test_a_span_is_at_most_max_answer_tokens_long() -> None:
    n = MAX_ANSWER_TOKENS + 10
    offsets = [(2 * i, 2 * i + 2) for i in range(n)]
    starts, ends = np.zeros(n), np.zeros(n)
    starts[0], ends[-1], ends[3] = 5.0, 5.0, 1.0
    start, end = best_span(starts, ends, np.ones(n), offsets) or (0, 0)
    assert (start, end) == (0, 8)


def test_no_sentence_tokens_no_span() -> None:
    assert best_span(np.zeros(3), np.zeros(3), np.zeros(3), [(0, 0)] * 3) is None


def test_the_shipped_reader_names_its_base_model_data_and_figures() -> None:
    manifest = read_manifest(default_dir())
    assert manifest["base_model"] == DEFAULT_MODEL
    assert {"data", "seed", "code_version", "dev", "calibration", "layers"} <= manifest.keys()
    assert 0 < manifest["calibration"]["threshold"] < 1
    # The reader issue's cap, on everything committed: the reader and the verifier built on it.
    assert sum((default_dir() / name).stat().st_size for name in (WEIGHTS, VERIFIER_WEIGHTS)) <= 25 * 2**20


def test_weight_matrices_are_stored_in_int8_a_scale_per_row_and_load_back_within_half_a_step(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    state = {
        "layer.dense.weight": torch.randn(4, 6, generator=generator) * torch.tensor([[0.01], [1.0], [30.0], [0.0]]),
        "layer.dense.bias": torch.randn(4, generator=generator),
    }
    save_weights(state, tmp_path / WEIGHTS)
    stored = load_file(str(tmp_path / WEIGHTS))
    assert stored["layer.dense.weight"].dtype == torch.int8 and stored["layer.dense.weight" + SCALES].shape == (4,)
    assert stored["layer.dense.bias"].dtype == torch.float16
    loaded = load_weights(tmp_path / WEIGHTS)
    assert loaded.keys() == state.keys() and all(t.dtype == torch.float32 for t in loaded.values())
    # Each row within half its own step (its largest magnitude over 127): a small row is not lost to a large one.
    step = state["layer.dense.weight"].abs().amax(dim=1, keepdim=True) / 127
    assert torch.all((loaded["layer.dense.weight"] - state["layer.dense.weight"]).abs() <= step / 2 + 1e-6)
    # Exactly the int8 values times their scales, as the ONNX export computes them (store_int8).
    steps = stored["layer.dense.weight"].to(torch.float32)
    assert torch.equal(loaded["layer.dense.weight"], steps * stored["layer.dense.weight" + SCALES][:, None])
    assert torch.equal(loaded["layer.dense.weight"][3], torch.zeros(6))
    assert torch.allclose(loaded["layer.dense.bias"], state["layer.dense.bias"], atol=1e-3)
    assert packed(state).keys() == stored.keys()


def test_an_int8_matrix_without_its_scales_is_refused(tmp_path: Path) -> None:
    stored = packed({"layer.dense.weight": torch.randn(3, 5)})
    save_file({"layer.dense.weight": stored["layer.dense.weight"]}, str(tmp_path / WEIGHTS))
    with pytest.raises(ModelError, match=r"layer\.dense\.weight is stored in int8 without one scale per row"):
        load_weights(tmp_path / WEIGHTS)
    save_file({**stored, "layer.dense.weight" + SCALES: torch.ones(2)}, str(tmp_path / WEIGHTS))
    with pytest.raises(ModelError, match="without one scale per row"):
        load_weights(tmp_path / WEIGHTS)


def test_weights_stored_in_fp16_as_before_still_load(tmp_path: Path) -> None:
    state = {"layer.dense.weight": torch.randn(3, 5), "layer.dense.bias": torch.randn(3)}
    save_file({k: v.to(torch.float16) for k, v in state.items()}, str(tmp_path / WEIGHTS))
    loaded = load_weights(tmp_path / WEIGHTS)
    assert all(torch.equal(loaded[k], v.to(torch.float16).to(torch.float32)) for k, v in state.items())


def test_a_reader_trained_on_another_base_model_is_refused(tmp_path: Path) -> None:
    shutil.copy(default_dir() / WEIGHTS, tmp_path / WEIGHTS)
    manifest = {**read_manifest(default_dir()), "base_model": "someone/else"}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(ModelError, match=r"someone/else.*RAG_READER=off"):
        load_reader(tmp_path, DEFAULT_MODEL, tmp_path)


def test_a_missing_reader_says_how_to_train_one(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="make reader"):
        load_reader(tmp_path, DEFAULT_MODEL, tmp_path)


@pytest.mark.model
def test_a_reader_saved_as_training_saves_it_loads_back_as_it_was(tmp_path: Path) -> None:
    """Training's save (int8, a scale per row) and serving's load, on the shipped reader: the same logits."""
    settings = Settings.from_env()
    model_dir = Path(resolve_model_path(settings))
    shipped = load_reader(model_dir, DEFAULT_MODEL)
    save_reader(shipped.net, shipped.manifest, tmp_path)
    again = load_reader(model_dir, DEFAULT_MODEL, tmp_path)
    stored = load_file(str(tmp_path / WEIGHTS))
    assert any(t.dtype == torch.int8 for t in stored.values())
    assert (tmp_path / WEIGHTS).stat().st_size < 0.6 * sum(t.numel() * 2 for t in shipped.net.trained_state().values())
    pairs = [
        Candidate("DeepSeek", "", "DeepSeek创始人梁文峰毕业于浙江大学。"),
        Candidate("DeepSeek", "", "英伟达的股价下跌了17%。"),
    ]
    before, spans_before = shipped.logits_and_spans("Who is the founder of DeepSeek?", pairs)
    after, spans_after = again.logits_and_spans("Who is the founder of DeepSeek?", pairs)
    assert np.allclose(before, after, atol=0.02) and spans_before == spans_after


@pytest.mark.model
@pytest.mark.parametrize("runtime", [pytest.param("torch", id="torch"), pytest.param("onnx", id="onnx")])
def test_the_reader_prefers_the_answering_sentence_across_languages(runtime: str) -> None:
    reader = reader_for(Settings.from_env({"RAG_READER": "on", "RAG_RUNTIME": runtime}))
    assert reader is not None
    candidates = [
        Candidate("DeepSeek", "", "a16z的联合创始人马克·安德森称赞了这个模型。"),
        Candidate("DeepSeek", "", "DeepSeek创始人梁文峰毕业于浙江大学。"),
        Candidate("DeepSeek", "", "英伟达的股价当天下跌了17%。"),
    ]
    readings = reader.read("Who is the founder of DeepSeek?", candidates)
    assert max(range(3), key=lambda i: readings[i].probability) == 1
    span = readings[1].answer
    assert span is not None and "梁文峰" in candidates[1].sentence[span[0] : span[1]]
