"""Export a provisioned sentence-transformers model to ONNX, once, next to its weights.

The graph is the transformer alone (``inputs_embeds``, ``attention_mask`` -> ``last_hidden_state``), the
layout of the hub's ONNX exports less the word-embedding lookup: mean pooling and L2 normalisation are two
lines of NumPy in ``rag.embedding_onnx``, and keeping them out of the graph leaves a plain BERT graph that
ONNX Runtime's transformer optimizer recognises and fuses. The files, in ``onnx-r<LAYOUT>/``:

- ``model.onnx`` and its weights ``model.onnx.data`` (43 MB): the transformer from the sum of word,
  position and token-type embeddings on, without the word-embedding table. Its weight matrices are stored
  as fp16 and cast to fp32 in the graph, which computes in fp32 (``store_half``): the vectors move by a
  cosine of 1e-7.
- ``word_embeddings.npy``: that table (250,037 rows x 384, 384 MB in fp32) as int8 with one fp32 scale per
  row (97 MB), which the embedder maps into memory and indexes with the token ids: only the rows of tokens
  in use are read, and worker processes share them. The vectors stay within a cosine of 0.99999 of fp32.
- ``pieces.model`` and ``pretokenizer.json``: the model's tokenizer, split by ``rag.subwords``.
- ``embedder.json``: what the sentence-transformers model does around the transformer (prompts,
  max_seq_length, pooling), read from the model itself at export.

Exporting needs torch and sentence-transformers; it runs at provisioning time, never when serving.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ModelError
from rag.subwords import TOKENIZER_FILE, split_tokenizer

OPSET = 17
MODEL_FILE = "model.onnx"
CONFIG_FILE = "embedder.json"
EMBEDDINGS_FILE = "word_embeddings.npy"
# Bump when the files this module writes change, so exports made before are redone.
# 2: an int8 copy (not kept: README, "Runtime"); 3: eager attention, fused by ONNX Runtime;
# 4: the weights in model.onnx.data, mapped into memory; 5: the word-embedding table out of the graph,
# in word_embeddings.npy as int8 with a scale per row (fp16: as good, twice the size; int4: the benchmark moves);
# 6: a Unigram tokenizer split into pieces.model and pretokenizer.json (rag.subwords); 7: both;
# 8: the weight matrices stored as fp16 (store_half).
LAYOUT = 8
# The weight matrices and the position embeddings; biases and LayerNorm parameters (1,536 values at most)
# are a fraction of a percent of the bytes and stay fp32.
HALF_MIN_VALUES = 4096


def onnx_dir(model_dir: Path) -> Path:
    return model_dir / f"onnx-r{LAYOUT}"


def ensure_onnx_model(model_dir: Path) -> Path:
    """Return the ONNX directory of a sentence-transformers model directory, exporting it once (atomically)."""
    return write_once(onnx_dir(model_dir), CONFIG_FILE, lambda out: export(model_dir, out))


def write_once(target: Path, marker: str, write: Callable[[Path], None]) -> Path:
    """``target``, written by ``write`` into a temporary folder beside it and renamed when complete, unless
    it holds ``marker`` already: a process that stops half-way, or two that export at once, never leave
    a half-written folder that looks complete."""
    if (target / marker).is_file():
        return target
    work = Path(tempfile.mkdtemp(prefix=".onnx-", dir=target.parent))
    try:
        write(work)
        try:
            work.rename(target)
        except OSError:
            if not (target / marker).is_file():  # not a concurrent winner: a real failure
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def export(model_dir: Path, out: Path) -> None:
    """Write model.onnx (its weights in model.onnx.data), word_embeddings.npy, the tokenizer (``rag.subwords``)
    and embedder.json."""
    try:
        import onnx  # noqa: F401  (fuse() saves with it; missing, it would fail only after the trace)
        import sentencepiece  # noqa: F401  (split_tokenizer writes its model format)
        import torch
        from sentence_transformers import SentenceTransformer
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"exporting the model to ONNX needs torch, sentence-transformers, onnx and sentencepiece ({exc.name} "
            "is missing): "
            "pip install 'rag[export]' (make install does), or provision the model where they are and copy "
            "the model cache"
        ) from None

    model = SentenceTransformer(str(model_dir), device="cpu")
    config = _embedder_config(model)
    module: Any = model[0]
    transformer = (getattr(module, "model", None) or module.auto_model).eval()  # 6.x, 5.x
    # Eager attention traces to the MatMul-Softmax-MatMul pattern that ONNX Runtime fuses into one
    # Attention op; the SDPA path traces to a graph it does not fuse (about 20% slower on 250-token passages).
    if hasattr(transformer, "set_attn_implementation"):
        transformer.set_attn_implementation("eager")
    else:  # transformers before 4.48
        transformer.config._attn_implementation = "eager"
    # The graph starts after the word-embedding lookup, which the embedder does from a table 4 times smaller.
    table = transformer.get_input_embeddings().weight.detach()
    traced = out / "traced.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(
            _last_hidden_state(transformer),
            (table[[0, 100, 200, 2]][None], torch.ones(1, 4, dtype=torch.int64)),
            str(traced),
            input_names=["inputs_embeds", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "tokens"} for name in ("inputs_embeds", "attention_mask", "last_hidden_state")
            },
            opset_version=OPSET,
            dynamo=False,  # the dynamo exporter needs onnxscript; the TorchScript one traces BERT as well
        )
    fuse(traced, out / MODEL_FILE, transformer.config.num_attention_heads, transformer.config.hidden_size)
    traced.unlink()
    np.save(out / EMBEDDINGS_FILE, quantize_rows(table.numpy()))
    split_tokenizer(model_dir / TOKENIZER_FILE, out)
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False), "utf-8")
    for path in out.rglob("*"):
        path.chmod(0o644)
    out.chmod(0o755)


def fuse(source: Path, target: Path, heads: int, hidden: int, int8: bool = False) -> None:
    """ONNX Runtime's BERT fusions, saved: Attention, SkipLayerNormalization, BiasGelu (no
    EmbedLayerNormalization: the graph starts after the word-embedding lookup).

    Level 1 fusions only: its contrib ops run on any CPU, where level 99 would tie the file to this one.
    The weights go to a file of their own, which ONNX Runtime maps rather than parsing them out of the
    graph: a session loads in 0.2 s and adds 92 MB of memory (layout 3, with the weights and the fp32 word
    table in the graph: 2.1 s and 469 MB). They are stored as fp16 after the fusions (``store_half``): the
    optimizer starts with ONNX Runtime's constant folding, which turns Casts made before it back into fp32.
    Folding them at session creation costs 0.04 s and 2 MB (layout 8 against 7). With ``int8`` (the reader's
    export, whose weights ship in int8), matrices that lie on an int8 grid are stored so first (``store_int8``).
    """
    import onnx
    from onnxruntime.transformers.optimizer import optimize_model

    logging.disable(logging.WARNING)
    try:
        fused = optimize_model(str(source), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1)
    finally:
        logging.disable(logging.NOTSET)
    if int8:
        store_int8(fused.model.graph)
    store_half(fused.model.graph)
    onnx.save_model(
        fused.model,
        str(target),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=target.name + ".data",
        size_threshold=1024,
    )


def store_half(graph: Any, min_values: int = HALF_MIN_VALUES) -> None:
    """Each float initializer of ``graph`` (an onnx GraphProto) with at least ``min_values`` values stored as
    fp16, behind a Cast to fp32 that takes the initializer's name: half the bytes on disk, and the graph still
    computes in fp32. ONNX Runtime folds the Casts into fp32 initializers when it creates a session."""
    import onnx
    from onnx import numpy_helper

    casts = []
    for tensor in graph.initializer:
        if tensor.data_type != onnx.TensorProto.FLOAT or math.prod(tensor.dims) < min_values:
            continue
        values = numpy_helper.to_array(tensor)
        if np.abs(values).max() > np.finfo(np.float16).max:  # beyond fp16's range: stays fp32
            continue
        name = tensor.name
        tensor.CopyFrom(numpy_helper.from_array(values.astype(np.float16), f"{name}.fp16"))
        casts.append(onnx.helper.make_node("Cast", [tensor.name], [name], f"{name}.cast", to=onnx.TensorProto.FLOAT))
    nodes = [*casts, *graph.node]  # each Cast before the nodes that read it
    del graph.node[:]
    graph.node.extend(nodes)


def store_int8(graph: Any, min_values: int = HALF_MIN_VALUES) -> None:
    """Each float matrix of ``graph`` with at least ``min_values`` values whose columns (or rows) lie on an int8
    grid, every value within a thousandth of a step of a multiple of its largest magnitude over 127 (the reader's
    and verifier's weights, which ship so: ``rag.rankers.readernet.packed``), stored as those int8 values and one
    fp32 scale per column (or row), behind a DequantizeLinear that gives the matrix's name: a quarter of the bytes,
    the same values. A session made by ``rag.embedding_onnx.cpu_session(..., fold_dequantize=True)`` folds them into
    fp32 initializers when it is created (by default ONNX Runtime keeps them for a quantized kernel, MatMulNBits,
    that dequantizes on every call: 12 ms more per verifier call here; a Cast and a Mul instead fold by default but
    left 45 MB more resident). Any other matrix is left as it is (``store_half`` stores it in fp16)."""
    import onnx
    from onnx import numpy_helper

    nodes, scales = [], []
    for tensor in graph.initializer:
        if tensor.data_type != onnx.TensorProto.FLOAT or len(tensor.dims) != 2 or math.prod(tensor.dims) < min_values:
            continue
        values = numpy_helper.to_array(tensor)
        for across in (0, 1):  # a scale per column (a MatMul's outputs), then per row (a Gemm's)
            scale = np.abs(values).max(axis=across) / 127
            scale[scale == 0] = 1.0
            steps = values / np.expand_dims(scale, across)
            if np.abs(steps - np.rint(steps)).max() <= 1e-3:
                break
        else:
            continue
        name = tensor.name
        tensor.CopyFrom(numpy_helper.from_array(np.rint(steps).astype(np.int8), f"{name}.int8"))
        scales.append(numpy_helper.from_array(scale.astype(np.float32), f"{name}.scale"))
        axis = 1 - across  # the axis the scales run along
        inputs = [f"{name}.int8", f"{name}.scale"]
        nodes.append(onnx.helper.make_node("DequantizeLinear", inputs, [name], f"{name}.dq", axis=axis))
    graph.initializer.extend(scales)
    ordered = [*nodes, *graph.node]  # each DequantizeLinear before the nodes that read its matrix
    del graph.node[:]
    graph.node.extend(ordered)


def quantize_rows(table: np.ndarray) -> np.ndarray:
    """Each row as int8 ``values`` times its fp32 ``scale``: the row's largest magnitude maps to 127."""
    scale = np.abs(table).max(axis=1) / 127
    scale[scale == 0] = 1.0  # an all-zero row stays zero
    rows = np.empty(len(table), dtype=embeddings_dtype(table.shape[1]))
    rows["scale"] = scale
    rows["values"] = np.rint(table / scale[:, None])
    return rows


def embeddings_dtype(dimension: int) -> np.dtype[Any]:
    """A row of word_embeddings.npy: its scale beside its values, so that a lookup reads one place."""
    return np.dtype([("scale", "<f4"), ("values", "i1", (dimension,))])


def _embedder_config(model: Any) -> dict[str, Any]:
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode", None) or pooling.get_pooling_mode_str()  # 6.x, 5.x
    if len(model) != 3 or mode != "mean":
        raise ModelError(f"the ONNX export handles transformer + mean pooling + normalize, not {model}")
    # sentence-transformers 6 renamed get_sentence_embedding_dimension.
    dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return {
        "dimension": int(dimension()),
        "max_seq_length": int(model.max_seq_length),
        "prompts": {k: v for k, v in model.prompts.items() if v},
        "pad_token": model.tokenizer.pad_token,
        "pad_id": int(model.tokenizer.pad_token_id),
        "pooling": "mean",
        "normalize": True,
    }


def _last_hidden_state(transformer: Any) -> Any:
    """The transformer as a module with one output, the last hidden state (a traced graph takes no dict)."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden: torch.Tensor = self.transformer(
                inputs_embeds=inputs_embeds, attention_mask=attention_mask
            ).last_hidden_state
            return hidden

    return LastHiddenState()
