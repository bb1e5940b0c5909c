"""The embedder on ONNX Runtime: the exported transformer, its tokenizer (``rag.subwords``), the
word-embedding lookup and pooling in NumPy.

It gives the sentence-transformers model's vectors (cosine ≥ 0.9999, tests/test_embedding_onnx.py)
without importing torch, transformers, sentence-transformers, scikit-learn or SciPy.
"""

from __future__ import annotations

import json
import mmap
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding import Kind, ModelInfo
from rag.subwords import PieceTokenizer
from rag.tools.onnx_export import CONFIG_FILE, EMBEDDINGS_FILE, MODEL_FILE


class OnnxEmbedder:
    def __init__(self, directory: Path, name: str, batch_size: int = 32) -> None:
        config = json.loads((directory / CONFIG_FILE).read_text("utf-8"))
        self.name = name
        self.path = str(directory / MODEL_FILE)
        self.dimension = int(config["dimension"])
        self.max_seq_length = int(config["max_seq_length"])
        self.prompts: dict[str, str] = config["prompts"]
        self.batch_size = batch_size
        # As sentence-transformers: the prompt is part of the text, and prompt + text is cut at max_seq_length.
        # Each batch is padded to its own longest text, below.
        self.tokenizer = PieceTokenizer(directory, self.max_seq_length)
        self.pad_id = int(config["pad_id"])
        self.session = cpu_session(self.path)
        self.word_embeddings = mapped_rows(directory / EMBEDDINGS_FILE)

    def embed(self, texts: list[str], kind: Kind, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        prompt = self.prompts.get(kind, "")
        ids = self.tokenizer.encode_batch([prompt + t for t in texts])
        # Longest first, so each batch pads to a length close to its own texts' and a slow batch shows early.
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        with _bar(len(texts), progress) as bar:
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                out[rows] = self._forward([ids[i] for i in rows])
                bar.update(len(rows))
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in batch)
        input_ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        embeds = dequantized_rows(self.word_embeddings[input_ids])
        (hidden,) = self.session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})
        return mean_pool_normalized(hidden, mask)

    def info(self) -> ModelInfo:
        return ModelInfo(self.name, self.path, self.dimension, self.max_seq_length, dict(self.prompts))


def cpu_session(path: str, threads: int = 0, fold_dequantize: bool = False) -> Any:
    """An ONNX Runtime session on the CPU whose threads spin for 20 µs at most before they sleep (by default
    they spin much longer). Measured on this 2-core machine (README, "Speed"): a long spin holds a core
    after each step and after each run, which slows the rest of the question, another request's pass, or
    another process's work; no spin at all makes each of the graph's steps wake the other thread, and a
    quiet machine's query embedding took 9.8 ms instead of 7.4. ``threads``: its intra-op threads, 0 for its
    default (one per core). ``fold_dequantize``: fold the graph's DequantizeLinear nodes on constant weights into
    fp32 weights once, when the session is created (the reader's export stores its weights so:
    ``rag.tools.onnx_export.store_int8``), instead of keeping them for quantized kernels the graph does not use."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: its warnings about unused initializers are noise here
    options.add_session_config_entry("session.intra_op.spin_duration_us", "20")
    options.intra_op_num_threads = threads
    if fold_dequantize:
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def mapped_rows(path: Path) -> np.ndarray:
    """A .npy table mapped, not read: a lookup pages in the rows of the tokens it meets, and worker processes
    share them. Advised as random access, or the kernel reads ahead around each row looked up and a few
    hundred queries make most of the table resident (the seeds' 3,203 distinct tokens, from a cold page cache:
    12 MB instead of 64)."""
    with path.open("rb") as file:
        np.lib.format.read_magic(file)
        shape, _, dtype = np.lib.format.read_array_header_1_0(file)  # np.save's format for a table like this
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        offset = file.tell()
    if hasattr(mmap, "MADV_RANDOM"):  # not on Windows
        mapped.madvise(mmap.MADV_RANDOM)
    return np.ndarray(shape, dtype, buffer=mapped, offset=offset)


def dequantized_rows(rows: np.ndarray) -> np.ndarray:
    """Rows of word_embeddings.npy (int8 values and a scale each) as float32 vectors."""
    vectors: np.ndarray = rows["values"] * rows["scale"][..., None]
    return vectors


def mean_pool_normalized(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mean of each text's token vectors (padding left out), scaled to unit length."""
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    unit: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def _bar(total: int, progress: bool) -> Any:
    if not progress:  # a question's embedding: a disabled tqdm still costs a tenth of a millisecond
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="text")


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        pass
