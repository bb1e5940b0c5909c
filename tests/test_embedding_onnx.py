"""The ONNX Runtime embedder against the sentence-transformers one, and what serving with it imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embedding import Kind, SentenceTransformerEmbedder, load_embedder
from rag.embedding_onnx import OnnxEmbedder, dequantized_rows, mean_pool_normalized
from rag.errors import ModelError
from rag.tools.onnx_export import EMBEDDINGS_FILE, MODEL_FILE, ensure_onnx_model, export, quantize_rows

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "sentence_transformers", "transformers", "sklearn", "scipy")
KINDS = [pytest.param("query", id="query"), pytest.param("passage", id="passage")]


def benchmark_texts(name: str, questions: int, quotes: int) -> list[str]:
    """Questions in English, Chinese and both, and evidence sentences quoted from the seeds."""
    rows = [json.loads(line) for line in (ROOT / "benchmarks" / name).read_text("utf-8").splitlines()]
    asked = [r["question"] for r in rows][:: max(1, len(rows) // questions)][:questions]
    quoted = list(dict.fromkeys(e["quote"] for r in rows for e in r["evidence"]))[:quotes]
    return asked + quoted


def long_passage() -> str:
    """A seed document's opening: far over 512 tokens, so both paths must cut it at the same place."""
    return sorted((ROOT / "seeds").glob("*.txt"))[0].read_text("utf-8")[:3000]


def test_mean_pooling_leaves_padding_out_and_gives_unit_vectors() -> None:
    hidden = np.array([[[3.0, 4.0], [100.0, 100.0]], [[1.0, 0.0], [0.0, 1.0]]], dtype=np.float32)
    mask = np.array([[1, 0], [1, 1]])
    pooled = mean_pool_normalized(hidden, mask)
    np.testing.assert_allclose(pooled, [[0.6, 0.8], [2**-0.5, 2**-0.5]], rtol=1e-6)
    assert pooled.dtype == np.float32


def test_int8_rows_come_back_within_half_a_step_of_their_scale() -> None:
    table = np.array([[-1.0, 0.0, 0.25], [0.0, 0.0, 0.0], [3e-3, 1e-3, -2e-3]], dtype=np.float32)
    rows = quantize_rows(table)
    assert rows["values"].dtype == np.int8
    assert rows["values"][0].tolist() == [-127, 0, 32]  # the largest magnitude maps to 127
    back = dequantized_rows(rows)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back[1], 0.0)
    assert np.all(np.abs(back - table) <= rows["scale"][:, None] / 2 * (1 + 1e-6))


def test_onnx_runtime_serves_the_default_model_only() -> None:
    with pytest.raises(ModelError, match="RAG_RUNTIME"):
        load_embedder(Settings(runtime="onnx", embedding_model="/some/other/model"))


def test_exporting_without_the_export_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed
    with pytest.raises(ModelError, match=r"onnx is missing\): pip install 'rag\[export\]'"):
        export(tmp_path, tmp_path)


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    embedder = load_embedder(Settings.from_env(runtime="torch"))
    assert isinstance(embedder, SentenceTransformerEmbedder)
    return embedder


@pytest.fixture(scope="module")
def onnx_embedder() -> OnnxEmbedder:
    embedder = load_embedder(Settings.from_env(runtime="onnx"))
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


@pytest.mark.model
@pytest.mark.parametrize("kind", KINDS)
def test_onnx_gives_the_sentence_transformers_vectors(
    torch_embedder: SentenceTransformerEmbedder, onnx_embedder: OnnxEmbedder, kind: Kind
) -> None:
    texts = benchmark_texts("questions.jsonl", 24, 24)
    # The long one alone: in a batch with the others, each would be padded to 512 tokens (slow on 2 cores).
    torch_vectors = np.vstack([torch_embedder.embed(texts, kind), torch_embedder.embed([long_passage()], kind)])
    onnx_vectors = np.vstack([onnx_embedder.embed(texts, kind), onnx_embedder.embed([long_passage()], kind)])
    texts.append(long_passage())
    cosines = np.sum(torch_vectors * onnx_vectors, axis=1)
    worst = int(np.argmin(cosines))
    # The int8 word-embedding table costs this much: 0.99999 at worst on these texts and the held-out ones.
    assert cosines[worst] >= 0.9999, f"cosine {cosines[worst]:.6f} for {texts[worst][:60]!r}"


@pytest.mark.model
def test_a_batch_gives_each_text_the_vector_it_gets_alone(onnx_embedder: OnnxEmbedder) -> None:
    texts = ["hi", "训练成本真的只有600万美元吗？", long_passage(), "How much did it cost to train DeepSeek V3?"]
    alone = np.vstack([onnx_embedder.embed([t], "passage") for t in texts])
    together = onnx_embedder.embed(texts, "passage")
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-5)
    assert onnx_embedder.embed([], "query").shape == (0, onnx_embedder.dimension)


@pytest.mark.model
def test_serving_on_onnx_imports_neither_torch_nor_sentence_transformers(onnx_embedder: OnnxEmbedder) -> None:
    """Runs in a fresh interpreter: this one has imported torch for the other tests. The export exists
    by now (the fixture made it), so loading only reads it."""
    code = (
        "import sys\n"
        "from rag.config import Settings\n"
        "from rag.embedding import load_embedder\n"
        "vector = load_embedder(Settings.from_env(runtime='onnx')).embed(['训练成本是多少？'], 'query')\n"
        f"assert vector.shape == (1, {onnx_embedder.dimension}), vector.shape\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.model
def test_the_export_keeps_the_word_table_out_of_the_fused_graph(onnx_embedder: OnnxEmbedder) -> None:
    import onnx

    directory = Path(onnx_embedder.path).parent
    graph = onnx.load(str(directory / MODEL_FILE), load_external_data=False).graph
    assert [i.name for i in graph.input] == ["inputs_embeds", "attention_mask"]
    ops = [node.op_type for node in graph.node]
    # ONNX Runtime's BERT fusions, about 20% of the speed (README, "Runtime"): one Attention per layer.
    assert ops.count("Attention") == 12 and ops.count("SkipLayerNormalization") == 24, sorted(set(ops))
    assert (directory / (MODEL_FILE + ".data")).stat().st_size < 100e6  # 470 MB with the fp32 table in it
    table = np.load(directory / EMBEDDINGS_FILE, mmap_mode="r")
    assert table.shape == (250_037,) and table["values"].shape[1] == onnx_embedder.dimension


@pytest.mark.model
def test_exporting_twice_does_not_export_again(onnx_embedder: OnnxEmbedder) -> None:
    model = Path(onnx_embedder.path)
    before = model.stat().st_mtime_ns
    assert ensure_onnx_model(model.parent.parent) == model.parent
    assert model.stat().st_mtime_ns == before
