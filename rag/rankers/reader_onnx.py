"""The reader on ONNX Runtime: its export (``rag.tools.reader_export``), the embedder's word pieces and word
embeddings, span decoding in NumPy.

It gives the torch reader's probabilities and spans (tests/test_reader_onnx.py) without importing torch or
transformers. The pair is laid out by hand as the torch reader's tokenizer lays it out, ``<s> question
</s></s> title | before | sentence </s>``, the question cut at QUESTION_TOKENS pieces and the rest at
MAX_TOKENS, so that any tokenizer over the same vocabulary that gives pieces with their offsets serves:
the embedder's (``rag.subwords``), so that a process holds the vocabulary once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.config import Settings
from rag.embedding import onnx_model_dir
from rag.embedding_onnx import OnnxEmbedder, cpu_session, dequantized_rows, mapped_rows
from rag.rankers.reading import (
    MAX_TOKENS,
    QUESTION_TOKENS,
    SEPARATOR,
    Calibration,
    best_span,
    checked_manifest,
    default_dir,
    trim,
    verifier_manifest,
    verifier_reads,
)
from rag.subwords import Pieces, PieceTokenizer
from rag.tools.onnx_export import EMBEDDINGS_FILE
from rag.tools.reader_export import CONFIG_FILE, MODEL_FILE, ensure_reader_onnx
from rag.types import Candidate, Reading

# Around the question and the second text: <s> question </s></s> second </s>.
SPECIAL_PIECES = 4
# A batch runs as up to MAX_GROUPS groups of pairs of like length, each padded to its own longest, a group added only
# while it spares at least GROUP_SAVING of the positions one batch would run (the seed questions' batches are 26%
# padding; so grouped they run 0.79 of the positions, against 0.86 as two halves: docs/tuning.md).
MAX_GROUPS = 4
GROUP_SAVING = 0.03


# The word vectors of a batch of piece ids: (rows, pieces) -> (rows, pieces, hidden), float32.
WordLookup = Callable[[np.ndarray], np.ndarray]


class Subwords(Protocol):
    """What the reader needs of a tokenizer: each text's piece ids and their offsets, no special tokens."""

    def pieces(self, texts: Sequence[str]) -> list[Pieces]: ...


@dataclass(frozen=True)
class SpecialIds:
    cls: int
    sep: int
    pad: int


@dataclass(frozen=True)
class Batch:
    input_ids: np.ndarray
    attention_mask: np.ndarray
    sentence_mask: np.ndarray  # 1 for pieces inside the candidate sentence
    offsets: list[list[tuple[int, int]]]  # per piece, its offsets inside the sentence ((0, 0) outside it)


def encode(tokenizer: Subwords, question: str, passages: Sequence[Candidate], special: SpecialIds) -> Batch:
    """The (question, title | before | sentence) pairs as the torch reader's tokenizer encodes them, padded
    to the longest, with where each sentence's pieces are."""
    seconds = [f"{p.title}{SEPARATOR}{p.before}{SEPARATOR}{p.sentence}" for p in passages]
    asked, *read = tokenizer.pieces([question, *seconds])
    first = asked.ids[:QUESTION_TOKENS]
    room = MAX_TOKENS - SPECIAL_PIECES - len(first)  # what is left for the second text ("only_second")
    lead = len(first) + 3  # <s> question </s></s>
    width = max(lead + min(room, len(r.ids)) + 1 for r in read)
    input_ids = np.full((len(passages), width), special.pad, dtype=np.int64)
    attention = np.zeros((len(passages), width), dtype=np.int64)
    sentence_mask = np.zeros((len(passages), width), dtype=np.int64)
    offsets: list[list[tuple[int, int]]] = []
    for row, (passage, text, pieces) in enumerate(zip(passages, seconds, read, strict=True)):
        ids = [special.cls, *first, special.sep, special.sep, *pieces.ids[:room], special.sep]
        input_ids[row, : len(ids)] = ids
        attention[row, : len(ids)] = 1
        begin = len(text) - len(passage.sentence)
        spans = [(0, 0)] * width
        for t, (start, end) in enumerate(pieces.offsets[:room], start=lead):
            if start >= begin and end > start:
                sentence_mask[row, t] = 1
                spans[t] = (start - begin, end - begin)
        offsets.append(spans)
    return Batch(input_ids, attention, sentence_mask, offsets)


def groups(batch: Batch, saving: float = GROUP_SAVING, most: int = MAX_GROUPS) -> list[tuple[np.ndarray, Batch]]:
    """``batch`` as it runs, with the rows of ``batch`` each part holds: whole, or cut by length into up to ``most``
    groups, each cut to its own longest row, a group added only while it spares at least ``saving`` of the positions
    the whole batch runs. Padding changes no row's result (the attention mask keeps it out)."""
    lengths = batch.attention_mask.sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    cuts = best_cuts(lengths[order].tolist(), most, saving * batch.input_ids.size)
    if len(cuts) == 1:
        return [(np.arange(len(order)), batch)]
    parts = [np.sort(order[begin:end]) for begin, end in cuts]
    return [(rows, _rows(batch, rows, int(lengths[rows].max()))) for rows in parts]


def best_cuts(lengths: list[int], most: int, spare: float) -> list[tuple[int, int]]:
    """The sorted ``lengths`` cut into runs of the fewest positions (each run padded to its last, longest, length):
    the best cut into g + 1 runs is taken over the best into g only while it spares at least ``spare`` positions."""
    n = len(lengths)
    # cost[g][j], start[g][j]: the fewest positions of the first j lengths in g runs, and where the last run begins.
    cost = [[0.0] + [float("inf")] * n]
    start: list[list[int]] = [[0] * (n + 1)]
    for g in range(1, min(most, n) + 1):
        row, begins = [float("inf")] * (n + 1), [0] * (n + 1)
        for j in range(g, n + 1):
            row[j], begins[j] = min((cost[g - 1][i] + (j - i) * lengths[j - 1], i) for i in range(g - 1, j))
        cost.append(row)
        start.append(begins)
    runs = 1
    while runs < min(most, n) and cost[runs][n] - cost[runs + 1][n] >= spare:
        runs += 1
    cuts, end = [], n
    for g in range(runs, 0, -1):
        begin = start[g][end]
        cuts.append((begin, end))
        end = begin
    return cuts[::-1]


def _rows(batch: Batch, rows: np.ndarray, width: int) -> Batch:
    return Batch(
        batch.input_ids[rows, :width],
        batch.attention_mask[rows, :width],
        batch.sentence_mask[rows, :width],
        [batch.offsets[row][:width] for row in rows],
    )


class OnnxReader:
    def __init__(
        self,
        directory: Path,
        tokenizer: Subwords,
        words: WordLookup,
        manifest: dict[str, Any],
        threads: int = 0,
        reads: int = 1,
    ) -> None:
        """``threads``: ONNX Runtime's intra-op threads, 0 for its default (one per core); ``reads``: as the
        verifier, how many of the scorer's first sentences it reads."""
        self.reads = reads
        config = json.loads((directory / CONFIG_FILE).read_text("utf-8"))
        self.path = str(directory / MODEL_FILE)
        self.tokenizer = tokenizer
        self.words = words
        self.special = SpecialIds(int(config["cls_id"]), int(config["sep_id"]), int(config["pad_id"]))
        self.calibration = Calibration.from_manifest(manifest)
        self.threshold = self.calibration.threshold
        self.uncertain = self.calibration.uncertain
        self.session = cpu_session(self.path, threads, fold_dequantize=True)

    def read(self, question: str, passages: Sequence[Candidate]) -> list[Reading]:
        """One batched forward pass over all candidate sentences (a few, of sentences of like length, where that spares
        padding: ``groups``)."""
        if not passages:
            return []
        logits, spans = self.logits_and_spans(question, passages)
        probabilities = self.calibration.probabilities(logits).tolist()
        return [
            Reading(float(p), trim(span, c.sentence)) for p, span, c in zip(probabilities, spans, passages, strict=True)
        ]

    def logits_and_spans(
        self, question: str, passages: Sequence[Candidate]
    ) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
        """Uncalibrated relevance logits and the best answer span (untrimmed) of each passage, as the torch
        reader's ``logits_and_spans`` (the dev figures of ``bench.reader_dev`` read through either)."""
        whole = encode(self.tokenizer, question, passages, self.special)
        logits = np.zeros(len(passages), dtype=np.float32)
        found: list[tuple[int, int] | None] = [None] * len(passages)
        for rows, batch in groups(whole):
            relevance, spans = self.logits(batch)
            logits[rows] = relevance.reshape(len(rows))
            for i, row in enumerate(rows):
                found[row] = best_span(spans[i, :, 0], spans[i, :, 1], batch.sentence_mask[i], batch.offsets[i])
        return logits, found

    def logits(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """Uncalibrated relevance logits per pair, and start/end logits per piece."""
        feeds = {
            "inputs_embeds": self.words(batch.input_ids),
            "attention_mask": batch.attention_mask,
            "sentence_mask": batch.sentence_mask,
        }
        relevance, spans = self.session.run(None, feeds)
        return relevance, spans


def load_onnx_reader(
    settings: Settings,
    embedder: OnnxEmbedder | None = None,
    export: Path | None = None,
    threads: int = 0,
    verifier: bool = False,
) -> OnnxReader:
    """The shipped reader on ONNX Runtime (with ``verifier``, its verifier), exported first if it has not been
    (or the export in ``export``, to measure another layout). It reads with the embedder's tokenizer and
    word-embedding table (the base model's, which training left as they were): with ``embedder`` given, the
    process holds one copy of each. ``threads``: ONNX Runtime's intra-op threads, 0 for its default."""
    source = default_dir()
    manifest = checked_manifest(source, settings.embedding_model, "RAG_VERIFIER" if verifier else "RAG_READER")
    reads = verifier_reads(verifier_manifest(source)) if verifier else 1  # its export checks that it fits
    embedder_dir = onnx_model_dir(settings)
    directory = export or ensure_reader_onnx(embedder_dir, source, settings.embedding_model, verifier)
    if embedder is None:
        tokenizer, table = PieceTokenizer(embedder_dir, MAX_TOKENS), mapped_rows(embedder_dir / EMBEDDINGS_FILE)
    else:
        tokenizer, table = embedder.tokenizer, embedder.word_embeddings
    return OnnxReader(directory, tokenizer, lambda ids: dequantized_rows(table[ids]), manifest, threads, reads)
