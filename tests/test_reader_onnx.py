"""The reader on ONNX Runtime against the torch reader, and what serving with it imports."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rag.config import DEFAULT_MODEL, Settings
from rag.embedding import load_embedder
from rag.embedding_onnx import OnnxEmbedder
from rag.errors import ModelError
from rag.rankers import reader_onnx
from rag.rankers.reader import SentenceReader, reader_for, verifier_for
from rag.rankers.reader_onnx import Batch, OnnxReader, SpecialIds, best_cuts, encode, groups
from rag.rankers.reading import (
    MANIFEST,
    MAX_TOKENS,
    QUESTION_TOKENS,
    SEPARATOR,
    Calibration,
    default_dir,
    verifier_manifest,
    verifier_reads,
)
from rag.subwords import Pieces
from rag.tools.onnx_export import HALF_MIN_VALUES
from rag.tools.reader_export import ensure_reader_onnx, export
from rag.types import Candidate

ROOT = Path(__file__).resolve().parent.parent
# SciPy is not among them: the test builds its index in the same interpreter, and building imports bm25s.
HEAVY = ("torch", "sentence_transformers", "transformers", "sklearn")
SPECIAL = SpecialIds(cls=0, sep=2, pad=1)


class CharPieces:
    """One piece per character, its id the code point: a tokenizer whose output is easy to predict."""

    def pieces(self, texts: Sequence[str]) -> list[Pieces]:
        return [Pieces([ord(c) for c in t], [(i, i + 1) for i in range(len(t))]) for t in texts]


def test_a_pair_is_laid_out_as_xlm_r_lays_it_out() -> None:
    batch = encode(CharPieces(), "ab", [Candidate("T", "B", "xyz")], SPECIAL)
    second = f"T{SEPARATOR}B{SEPARATOR}xyz"
    assert batch.input_ids.tolist() == [[0, ord("a"), ord("b"), 2, 2, *map(ord, second), 2]]
    assert batch.attention_mask.tolist() == [[1] * (len(second) + 6)]
    inside = [t for t, flag in enumerate(batch.sentence_mask[0]) if flag]
    assert [batch.offsets[0][t] for t in inside] == [(0, 1), (1, 2), (2, 3)]
    assert batch.offsets[0][0] == (0, 0)


def test_the_question_is_cut_first_then_the_sentence_and_rows_are_padded() -> None:
    question, long_sentence = "q" * 100, "s" * 300
    batch = encode(CharPieces(), question, [Candidate("", "", long_sentence), Candidate("", "", "short")], SPECIAL)
    assert batch.input_ids.shape == (2, MAX_TOKENS)
    assert (batch.input_ids[0, 1 : QUESTION_TOKENS + 1] == ord("q")).all()
    assert batch.input_ids[0, QUESTION_TOKENS + 1 :].tolist()[:2] == [2, 2]
    assert batch.input_ids[0, -1] == SPECIAL.sep
    assert batch.sentence_mask[0].sum() == MAX_TOKENS - QUESTION_TOKENS - 4 - 2 * len(SEPARATOR)
    short = int(batch.attention_mask[1].sum())
    assert batch.input_ids[1, short:].tolist() == [SPECIAL.pad] * (MAX_TOKENS - short)
    assert batch.sentence_mask[1, short:].sum() == 0


def test_a_batch_of_short_and_long_rows_runs_as_two_groups_each_cut_to_its_longest() -> None:
    sentences = ["s" * 60, "ab", "s" * 55, "abc", "s" * 50, "a"]
    batch = encode(CharPieces(), "q", [Candidate("", "", s) for s in sentences], SPECIAL)
    parts = groups(batch)
    assert [rows.tolist() for rows, _ in parts] == [[1, 3, 5], [0, 2, 4]]
    for rows, part in parts:
        lengths = batch.attention_mask[rows].sum(axis=1)
        assert part.input_ids.shape == (len(rows), lengths.max())
        np.testing.assert_array_equal(part.input_ids, batch.input_ids[rows, : lengths.max()])
        np.testing.assert_array_equal(part.attention_mask, batch.attention_mask[rows, : lengths.max()])
        np.testing.assert_array_equal(part.sentence_mask, batch.sentence_mask[rows, : lengths.max()])
        assert part.offsets == [batch.offsets[row][: lengths.max()] for row in rows]
        assert batch.attention_mask[rows, lengths.max() :].sum() == 0  # only padding is cut


def test_a_batch_whose_groups_would_spare_little_padding_runs_whole() -> None:
    for sentences in (["s" * 40, "s" * 41, "s" * 39, "s" * 40], ["only one"]):
        batch = encode(CharPieces(), "q", [Candidate("", "", s) for s in sentences], SPECIAL)
        [(rows, part)] = groups(batch)
        assert rows.tolist() == list(range(len(sentences))) and part is batch


def test_rows_of_three_lengths_run_as_three_groups() -> None:
    sentences = ["s" * 90, "a", "s" * 40, "ab", "s" * 88, "s" * 41, "abc", "s" * 89, "s" * 39]
    batch = encode(CharPieces(), "q", [Candidate("", "", s) for s in sentences], SPECIAL)
    parts = groups(batch)
    assert [rows.tolist() for rows, _ in parts] == [[1, 3, 6], [2, 5, 8], [0, 4, 7]]
    assert [part.input_ids.shape[1] for _, part in parts] == [
        int(batch.attention_mask[rows].sum(axis=1).max()) for rows, _ in parts
    ]


def test_the_cuts_are_the_best_ones_and_a_group_is_added_only_where_it_spares_enough() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        lengths = sorted(rng.integers(20, 128, size=int(rng.integers(1, 17))).tolist())
        for most in (1, 2, 3, 4):
            runs = best_cuts(lengths, most, spare=0.0)
            assert runs[0][0] == 0 and runs[-1][1] == len(lengths)
            assert all(a[1] == b[0] for a, b in itertools.pairwise(runs))
            assert positions(lengths, runs) == min(
                positions(lengths, cut)
                for k in range(1, min(most, len(lengths)) + 1)
                for cut in every_cut(len(lengths), k)
            )
    lengths = [10, 10, 10, 50, 50, 50, 100, 100]
    # One group runs 800 positions, two 500, three 380; a fourth spares none.
    assert best_cuts(lengths, 4, spare=1) == [(0, 3), (3, 6), (6, 8)]
    assert best_cuts(lengths, 2, spare=1) == [(0, 6), (6, 8)]
    assert best_cuts(lengths, 4, spare=121) == [(0, 6), (6, 8)]
    assert best_cuts(lengths, 4, spare=10_000) == [(0, 8)]


def positions(lengths: Sequence[int], runs: Sequence[tuple[int, int]]) -> int:
    return sum((end - begin) * lengths[end - 1] for begin, end in runs)


def every_cut(n: int, k: int) -> list[list[tuple[int, int]]]:
    return [
        [(a, b) for a, b in zip((0, *inner), (*inner, n), strict=True)]
        for inner in itertools.combinations(range(1, n), k - 1)
    ]


def test_calibration_is_platt_scaling_in_float32() -> None:
    calibration = Calibration(temperature=0.5, shift=1.0)
    probabilities = calibration.probabilities(np.array([0.0, -0.5, 2.0], dtype=np.float32))
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-np.array([1.0, 0.0, 5.0]))), rtol=1e-6)


def test_exporting_the_reader_without_the_export_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as in the Docker image
    with pytest.raises(ModelError, match=r"torch is missing\): pip install 'rag\[export\]'.*RAG_READER=off"):
        export(tmp_path, default_dir(), DEFAULT_MODEL, tmp_path)


def pairs() -> list[tuple[str, list[Candidate]]]:
    """English and Chinese benchmark questions, each with its own gold quotes and other questions' quotes,
    and a long question and sentence that both readers must cut at the same place."""
    rows = [json.loads(line) for line in (ROOT / "benchmarks" / "questions.jsonl").read_text("utf-8").splitlines()]
    quoted = [r for r in rows if len(r["evidence"]) >= 2]
    chosen = [r for r in quoted if r["lang"] == "en"][:5] + [r for r in quoted if r["lang"] == "zh"][:5]
    quotes = [e["quote"] for r in chosen for e in r["evidence"][:2]]
    out = []
    for i, r in enumerate(chosen):
        own = [e["quote"] for e in r["evidence"][:2]]
        others = [quotes[(4 * i + 7 + k) % len(quotes)] for k in range(2)]
        out.append((r["question"], [Candidate("DeepSeek", others[0][-30:], q) for q in own + others]))
    long_question = " ".join(r["question"] for r in chosen[:3])  # over QUESTION_TOKENS pieces
    out.append((long_question, [Candidate("A title " * 5, "before " * 10, "a sentence " * 40), *out[0][1][:2]]))
    return out


@pytest.fixture(scope="module")
def onnx_embedder() -> OnnxEmbedder:
    embedder = load_embedder(Settings.from_env(runtime="onnx"))
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


@pytest.fixture(scope="module")
def onnx_reader(onnx_embedder: OnnxEmbedder) -> OnnxReader:
    reader = reader_for(Settings.from_env(runtime="onnx", reader=True), onnx_embedder)
    assert isinstance(reader, OnnxReader)
    return reader


@pytest.fixture(scope="module")
def torch_reader():  # type: ignore[no-untyped-def]  (rag.rankers.readernet.Reader: torch, imported here only)
    return reader_for(Settings.from_env(runtime="torch", reader=True))


@pytest.mark.model
def test_the_reader_reads_with_the_embedders_tokenizer(onnx_embedder: OnnxEmbedder, onnx_reader: OnnxReader) -> None:
    assert onnx_reader.tokenizer is onnx_embedder.tokenizer


@pytest.mark.model
def test_pairs_are_encoded_as_the_torch_readers_tokenizer_encodes_them(onnx_reader: OnnxReader, torch_reader) -> None:  # type: ignore[no-untyped-def]
    from rag.rankers.readernet import encode as torch_encode

    for question, candidates in pairs():
        ours = encode(onnx_reader.tokenizer, question, candidates, onnx_reader.special)
        theirs = torch_encode(torch_reader.tokenizer, [question] * len(candidates), candidates)
        as_arrays = Batch(
            theirs.input_ids.numpy(), theirs.attention_mask.numpy(), theirs.sentence_mask.numpy(), theirs.offsets
        )
        np.testing.assert_array_equal(ours.input_ids, as_arrays.input_ids, err_msg=question)
        np.testing.assert_array_equal(ours.attention_mask, as_arrays.attention_mask, err_msg=question)
        np.testing.assert_array_equal(ours.sentence_mask, as_arrays.sentence_mask, err_msg=question)
        assert ours.offsets == as_arrays.offsets, question


def compare(ours: SentenceReader, theirs: SentenceReader) -> tuple[int, float, float, float]:
    """Over pairs(): how many pairs, the largest probability difference, the share of answer spans and of
    questions' best sentences that are the same."""
    read, worst, spans, best = 0, 0.0, 0, 0
    asked = pairs()
    for question, candidates in asked:
        a, b = ours.read(question, candidates), theirs.read(question, candidates)
        worst = max(worst, *(abs(x.probability - y.probability) for x, y in zip(a, b, strict=True)))
        spans += sum(x.answer == y.answer for x, y in zip(a, b, strict=True))
        best += max(range(len(a)), key=lambda i: a[i].probability) == max(range(len(b)), key=lambda i: b[i].probability)
        read += len(candidates)
    return read, worst, spans / read, best / len(asked)


@pytest.mark.model
def test_onnx_on_the_same_weights_gives_the_torch_readers_probabilities_and_answers(
    onnx_reader: OnnxReader,
    torch_reader,  # type: ignore[no-untyped-def]
) -> None:
    """The export and the hand-made input against the torch reader, both reading the fp32 word embeddings.
    The export stores the weight matrices in fp16, as the shipped weights are: it loses nothing (8.9e-7, as
    with fp32)."""
    table = torch_reader.net.encoder.embeddings.word_embeddings.weight.detach().numpy()
    exact = OnnxReader(
        Path(onnx_reader.path).parent, onnx_reader.tokenizer, lambda ids: table[ids], torch_reader.manifest
    )
    read, worst, spans, best = compare(exact, torch_reader)
    print(f"\n{read} pairs, fp32 word embeddings: largest probability difference {worst:.2e}")
    assert read >= 40 and worst <= 1e-4 and spans == best == 1.0


@pytest.mark.model
def test_reading_a_batch_in_groups_gives_each_pair_what_the_whole_batch_gives(onnx_reader: OnnxReader) -> None:
    parts = []
    for question, candidates in pairs():
        batch = encode(onnx_reader.tokenizer, question, candidates, onnx_reader.special)
        parts.append(len(groups(batch)))
        relevance, spans = onnx_reader.logits(batch)
        whole = [
            reader_onnx.best_span(spans[i, :, 0], spans[i, :, 1], batch.sentence_mask[i], batch.offsets[i])
            for i in range(len(candidates))
        ]
        logits, found = onnx_reader.logits_and_spans(question, candidates)
        np.testing.assert_allclose(logits, relevance, atol=1e-5, err_msg=question)
        assert found == whole, question
    assert max(parts) >= 3  # groups were read, not only whole batches (here 8 of 11 in two groups, 3 in three)


@pytest.mark.model
def test_onnx_on_the_embedders_int8_word_embeddings_stays_close_to_torch(
    onnx_reader: OnnxReader,
    torch_reader,  # type: ignore[no-untyped-def]
) -> None:
    """As served: the word embeddings are the embedder's int8 table (a scale per row), not fp32."""
    read, worst, spans, best = compare(onnx_reader, torch_reader)
    print(f"\n{read} pairs, int8 word embeddings: largest difference {worst:.2e}, spans {spans:.3f}, best {best:.3f}")
    assert worst <= 0.01 and spans >= 0.95 and best == 1.0


@pytest.mark.model
def test_the_onnx_verifier_reads_as_many_sentences_as_its_manifest_says(
    onnx_embedder: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = verifier_manifest(default_dir())
    monkeypatch.setattr(reader_onnx, "verifier_manifest", lambda source: {**shipped, "config": {"read": 3}})
    verifier = verifier_for(Settings.from_env(runtime="onnx", verifier=True), onnx_embedder)
    assert verifier is not None and verifier.reads == 3


def test_the_verifiers_export_gives_the_torch_verifiers_logits(
    onnx_embedder: OnnxEmbedder, onnx_reader: OnnxReader
) -> None:
    """The verifier is exported as the reader is, into a folder of its own, and read the same way; its logits are
    its own, not the reader's."""
    onnx_verifier = verifier_for(Settings.from_env(runtime="onnx", verifier=True), onnx_embedder)
    torch_verifier = verifier_for(Settings.from_env(runtime="torch", verifier=True))
    assert onnx_verifier is not None and torch_verifier is not None
    assert Path(onnx_verifier.path).parent.name.startswith("verifier-")
    # Both read as many of the scorer's sentences as the shipped manifest says it was trained on.
    assert onnx_verifier.reads == torch_verifier.reads == verifier_reads(verifier_manifest(default_dir()))
    worst, apart = 0.0, 0.0
    for question, candidates in pairs():
        ours = onnx_verifier.logits_and_spans(question, candidates)[0]
        theirs = torch_verifier.logits_and_spans(question, candidates)[0]
        readers = onnx_reader.logits_and_spans(question, candidates)[0]
        worst = max(worst, float(np.abs(ours - theirs).max()))
        apart = max(apart, float(np.abs(ours - readers).max()))
    print(f"\nverifier logits, ONNX (int8 word embeddings) against torch: largest difference {worst:.2e}")
    assert worst <= 0.05 and apart > 1.0


@pytest.mark.model
def test_the_readers_weight_matrices_are_stored_in_int8_as_shipped(onnx_reader: OnnxReader) -> None:
    import onnx

    graph = onnx.load(onnx_reader.path, load_external_data=False).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("Attention") == 6 and ops.count("SkipLayerNormalization") == 12, sorted(set(ops))
    matrices = {t.name: t.data_type for t in graph.initializer if math.prod(t.dims) >= HALF_MIN_VALUES}
    # Each layer's four (query, key and value fused into one by the Attention fusion) in int8, as they ship; the
    # position embeddings, the base model's, in fp16.
    assert sorted(matrices.values()).count(onnx.TensorProto.INT8) == 6 * 4
    assert {n for n, kind in matrices.items() if kind != onnx.TensorProto.INT8} == {
        "net.encoder.embeddings.position_embeddings.weight.fp16"
    }
    assert Path(onnx_reader.path + ".data").stat().st_size < 12e6  # 21 MB in fp16, 43 MB in fp32


@pytest.mark.model
def test_exporting_the_reader_twice_does_not_export_it_again(onnx_reader: OnnxReader) -> None:
    model = Path(onnx_reader.path)
    before = model.stat().st_mtime_ns
    assert ensure_reader_onnx(model.parent.parent, default_dir(), DEFAULT_MODEL) == model.parent
    assert model.stat().st_mtime_ns == before


@pytest.mark.model
def test_serving_needs_the_readers_manifest_not_its_weights(
    onnx_reader: OnnxReader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in the Docker image, which keeps rag/models/reader.json and drops the weights once exported."""
    shutil.copy(default_dir() / MANIFEST, tmp_path / MANIFEST)
    monkeypatch.setattr(reader_onnx, "default_dir", lambda: tmp_path)
    reader = reader_onnx.load_onnx_reader(Settings.from_env(runtime="onnx", reader=True))
    assert reader.path == onnx_reader.path


@pytest.mark.model
def test_serving_with_the_reader_on_onnx_imports_no_torch(onnx_reader: OnnxReader, tmp_path: Path) -> None:
    """In a fresh interpreter (this one has imported torch for the other tests), over a one-document index.
    Both exports exist by now (the fixtures made them), so loading only reads them."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "deepseek.md").write_text(
        "# DeepSeek\n\nDeepSeek创始人梁文峰毕业于浙江大学。英伟达的股价当天下跌了17%。\n", "utf-8"
    )
    code = (
        "import sys\n"
        "from rag.config import Settings\n"
        "from rag.embedding import load_embedder\n"
        "from rag.indexing import build_index\n"
        "from rag.pipeline import Pipeline\n"
        "from rag.stores import open_backend\n"
        "settings = Settings.from_env(runtime='onnx', reader=True)\n"
        "embedder = load_embedder(settings)\n"
        "build_index(settings, embedder, open_backend(settings), [settings.seeds_dir])\n"
        "pipeline = Pipeline.from_settings(settings, embedder)\n"
        "answer = pipeline.ask('Who is the founder of DeepSeek?')\n"
        "assert answer.confidence is not None and answer.evidence, answer\n"
        "assert pipeline.ranker.reader.tokenizer is embedder.tokenizer\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "RAG_SEEDS_DIR": str(tmp_path / "docs"),
        "RAG_INDEX_DIR": str(tmp_path / "index"),
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
