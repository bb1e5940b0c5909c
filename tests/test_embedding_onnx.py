"""The ONNX Runtime embedder against the sentence-transformers one, and what serving with it imports."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.config import Settings
from rag.embedding import Kind, SentenceTransformerEmbedder, load_embedder
from rag.embedding_onnx import OnnxEmbedder, dequantized_rows, mean_pool_normalized
from rag.errors import ModelError
from rag.tools.onnx_export import (
    EMBEDDINGS_FILE,
    HALF_MIN_VALUES,
    MODEL_FILE,
    OPSET,
    ensure_onnx_model,
    export,
    quantize_rows,
    store_half,
    store_int8,
)

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


def tiny_graph(*initializers: np.ndarray) -> Any:
    """x @ weight + bias, with the initializers named weight and bias."""
    from onnx import TensorProto, helper, numpy_helper

    return helper.make_graph(
        [helper.make_node("MatMul", ["x", "weight"], ["product"]), helper.make_node("Add", ["product", "bias"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 64])],
        [numpy_helper.from_array(a, name) for a, name in zip(initializers, ("weight", "bias"), strict=True)],
    )


def run_folded(graph: Any, x: np.ndarray, folder: Path, fold_dequantize: bool = False) -> tuple[np.ndarray, Any]:
    """``graph`` run by ONNX Runtime on ``x``, and the graph the session made of it (its constants folded; with
    ``fold_dequantize``, as ``rag.embedding_onnx.cpu_session`` makes the reader's session)."""
    import onnx
    import onnxruntime

    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, folder / "tiny.onnx")
    options = onnxruntime.SessionOptions()
    if fold_dequantize:
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    options.optimized_model_filepath = str(folder / "optimized.onnx")
    session = onnxruntime.InferenceSession(folder / "tiny.onnx", options, providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": x})
    return y, onnx.load(folder / "optimized.onnx").graph


def test_weight_matrices_are_stored_as_fp16_and_computed_in_fp32(tmp_path: Path) -> None:
    import onnx

    rng = np.random.default_rng(0)
    weight, bias = rng.standard_normal((64, 64), dtype=np.float32), rng.standard_normal(64, dtype=np.float32)
    graph = tiny_graph(weight, bias)
    store_half(graph)
    assert {t.name: t.data_type for t in graph.initializer} == {
        "weight.fp16": onnx.TensorProto.FLOAT16,
        "bias": onnx.TensorProto.FLOAT,  # 64 values: below the threshold
    }
    x = rng.standard_normal((3, 64), dtype=np.float32)
    y, optimized = run_folded(graph, x, tmp_path)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, x @ weight.astype(np.float16).astype(np.float32) + bias, rtol=1e-5, atol=1e-5)
    # The session folds the Cast into an fp32 weight once, at creation: no Cast per call.
    assert "Cast" not in {n.op_type for n in optimized.node}
    assert {t.data_type for t in optimized.initializer} == {onnx.TensorProto.FLOAT}


def test_a_matrix_on_an_int8_grid_is_stored_in_int8_and_computed_as_it_was(tmp_path: Path) -> None:
    """The reader's and verifier's matrices, shipped in int8, go to their export so: folded back at session
    creation into exactly the values they had."""
    import onnx

    rng = np.random.default_rng(0)
    scales = rng.uniform(0.001, 0.1, (1, 64)).astype(np.float32)  # one per column, as a MatMul's output
    weight = rng.integers(-127, 128, (64, 64)).astype(np.float32) * scales
    weight[0, :] = 127 * scales  # each column's largest magnitude is 127 steps, as rag.rankers.readernet.packed makes
    bias = rng.standard_normal(64, dtype=np.float32)
    graph = tiny_graph(weight, bias)
    store_int8(graph)
    store_half(graph)
    kinds = {t.name: t.data_type for t in graph.initializer}
    real = onnx.TensorProto.FLOAT
    assert kinds == {"weight.int8": onnx.TensorProto.INT8, "weight.scale": real, "bias": real}
    assert [n.op_type for n in graph.node] == ["DequantizeLinear", "MatMul", "Add"]
    x = rng.standard_normal((3, 64), dtype=np.float32)
    y, optimized = run_folded(graph, x, tmp_path, fold_dequantize=True)
    np.testing.assert_allclose(y, x @ weight + bias, rtol=1e-5, atol=1e-5)
    # Folded once, at creation, into fp32 weights.
    assert "DequantizeLinear" not in {n.op_type for n in optimized.node}
    assert {t.data_type for t in optimized.initializer} == {real}
    # By default ONNX Runtime keeps the int8 weights for a quantized kernel (MatMulNBits here) that dequantizes on
    # every call.
    _, kept = run_folded(graph, x, tmp_path)
    assert {t.data_type for t in kept.initializer} - {real}
    # A matrix off the grid (trained weights stored as they were) is left to store_half.
    graph = tiny_graph(rng.standard_normal((64, 64), dtype=np.float32), bias)
    store_int8(graph)
    assert [t.data_type for t in graph.initializer] == [onnx.TensorProto.FLOAT] * 2
    assert [n.op_type for n in graph.node] == ["MatMul", "Add"]


def test_a_tensor_beyond_fp16s_range_stays_fp32() -> None:
    import onnx

    graph = tiny_graph(np.full((64, 64), 1e5, dtype=np.float32), np.zeros(64, dtype=np.float32))
    store_half(graph)
    assert [t.data_type for t in graph.initializer] == [onnx.TensorProto.FLOAT] * 2
    assert [n.op_type for n in graph.node] == ["MatMul", "Add"]


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
    # The int8 word-embedding table costs this much: 0.99999 at worst on these texts and the held-out ones
    # (the fp16-stored weights add nothing to see: below).
    assert cosines[worst] >= 0.9999, f"cosine {cosines[worst]:.6f} for {texts[worst][:60]!r}"


class Fp32Rows:
    """sentence-transformers' fp32 word vectors in the place of word_embeddings.npy's int8 rows."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        rows = np.empty(ids.shape, dtype=[("scale", "<f4"), ("values", "<f4", (self.table.shape[1],))])
        rows["scale"], rows["values"] = 1.0, self.table[ids]
        return rows


@pytest.mark.model
@pytest.mark.parametrize("kind", KINDS)
def test_on_the_fp32_word_vectors_the_graph_gives_the_sentence_transformers_vectors(
    torch_embedder: SentenceTransformerEmbedder, onnx_embedder: OnnxEmbedder, kind: Kind
) -> None:
    """The graph alone, its weight matrices stored as fp16: what they cost, without the int8 table's rounding."""
    exact = OnnxEmbedder(Path(onnx_embedder.path).parent, onnx_embedder.name)
    module = torch_embedder.model[0]
    transformer = getattr(module, "model", None) or module.auto_model  # sentence-transformers 6.x, 5.x
    exact.word_embeddings = Fp32Rows(transformer.get_input_embeddings().weight.detach().numpy())
    texts = benchmark_texts("questions.jsonl", 24, 24) + benchmark_texts("heldout.jsonl", 12, 12)
    cosines = np.sum(torch_embedder.embed(texts, kind) * exact.embed(texts, kind), axis=1)
    # 0.9999999 at worst on these and the held-out texts, as with fp32 weights: float32's own rounding.
    assert cosines.min() >= 0.999999, f"cosine {cosines.min():.8f} for {texts[int(np.argmin(cosines))][:60]!r}"


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
    # The weight matrices in fp16, each behind a Cast to fp32.
    matrices = [t for t in graph.initializer if math.prod(t.dims) >= HALF_MIN_VALUES]
    assert {t.data_type for t in matrices} == {onnx.TensorProto.FLOAT16}
    assert ops.count("Cast") == len(matrices) + 1  # and the attention mask's
    assert (directory / (MODEL_FILE + ".data")).stat().st_size < 50e6  # 86 MB in fp32, 470 with the fp32 table
    table = np.load(directory / EMBEDDINGS_FILE, mmap_mode="r")
    assert table.shape == (250_037,) and table["values"].shape[1] == onnx_embedder.dimension


@pytest.mark.model
def test_exporting_twice_does_not_export_again(onnx_embedder: OnnxEmbedder) -> None:
    model = Path(onnx_embedder.path)
    before = model.stat().st_mtime_ns
    assert ensure_onnx_model(model.parent.parent) == model.parent
    assert model.stat().st_mtime_ns == before
