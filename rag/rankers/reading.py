"""What every runtime of the reader shares, without torch: its input's layout, the shipped manifest and its
calibration, and reading the short answer off the start/end scores.

The model itself runs on torch (``rag.rankers.readernet``, which trains it) or on ONNX Runtime
(``rag.rankers.reader_onnx``, which serves its export).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ModelError

SEPARATOR = " | "  # between the title, the sentence before and the sentence, in the reader's second text
QUESTION_TOKENS = 40
MAX_TOKENS = 128
MAX_ANSWER_TOKENS = 24
SENTENCE_POOLING = "sentence"
WEIGHTS = "reader.safetensors"
MANIFEST = "reader.json"
# The verifier (docs/tuning.md): the reader with its top layers and relevance head retrained to judge whether
# the scorer's first sentence answers; these files hold only what that retraining changed.
VERIFIER_WEIGHTS = "verifier.safetensors"
VERIFIER_MANIFEST = "verifier.json"


def default_dir() -> Path:
    return Path(str(resources.files("rag") / "models"))


def read_manifest(source: Path) -> dict[str, Any]:
    path = source / MANIFEST
    if not path.is_file():
        raise ModelError(f"no reader in {source} ({MANIFEST} missing): run `make reader` to train one")
    manifest: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return manifest


def checked_manifest(source: Path, base_model: str, switch: str = "RAG_READER") -> dict[str, Any]:
    """The manifest of the reader in ``source``, refused when it was trained on another base model; the error
    names ``switch``, the setting that turns off what needs it (the reader, or the verifier built on it)."""
    manifest = read_manifest(source)
    if manifest.get("base_model") != base_model:
        raise ModelError(
            f"the reader in {source} was trained on {manifest.get('base_model')!r}, not on the configured "
            f"embedding model {base_model!r}: set {switch}=off or retrain it with `make reader`"
        )
    return manifest


def verifier_manifest(source: Path) -> dict[str, Any]:
    path = source / VERIFIER_MANIFEST
    if not path.is_file():
        raise ModelError(
            f"no verifier in {source} ({VERIFIER_MANIFEST} missing): set RAG_VERIFIER=off, or train one with "
            '`python -m rag.training.verifier` (README, "The verifier")'
        )
    manifest: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return manifest


def verifier_reads(manifest: dict[str, Any]) -> int:
    """How many of the scorer's first sentences the verifier was trained to read (1 before the manifest said)."""
    config = manifest.get("config")
    read = config.get("read", 1) if isinstance(config, dict) else 1
    if isinstance(read, bool) or not isinstance(read, int) or read < 1:
        raise ModelError(
            f"the verifier's manifest has 'config.read' {read!r}, not a whole number of sentences of at least 1: "
            'set RAG_VERIFIER=off, or retrain it with `python -m rag.training.verifier` (README, "The verifier")'
        )
    return read


def checked_verifier(verifier: Path, reader: Path) -> dict[str, Any]:
    """The manifest of the verifier in ``verifier``, refused when it was trained on another reader than the one
    in ``reader`` (its bottom layers are that reader's)."""
    manifest = verifier_manifest(verifier)
    if manifest.get("reader_sha256") != weights_digest(reader / WEIGHTS):
        raise ModelError(
            f"the verifier in {verifier} was trained on another reader than {reader / WEIGHTS}: set RAG_VERIFIER=off, "
            'or retrain it with `python -m rag.training.verifier` (README, "The verifier")'
        )
    return manifest


def weights_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Calibration:
    temperature: float = 1.0
    shift: float = 0.0
    # Below this probability the documents are taken not to answer (chosen on the dev set by a stated
    # cost: see rag.training.calibrate).
    threshold: float = 0.5
    # From this probability up to the threshold, evidence is shown as "may not answer" (same cost rule);
    # a manifest without it has no such band.
    uncertain: float | None = None

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> Calibration:
        found = manifest.get("calibration", {})
        uncertain = found.get("uncertain")
        return cls(
            float(found.get("temperature", 1.0)),
            float(found.get("shift", 0.0)),
            float(found.get("threshold", 0.5)),
            None if uncertain is None else float(uncertain),
        )

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Platt scaling of the relevance logits, in float32 as the torch reader computes it."""
        scaled = logits.astype(np.float32) / np.float32(self.temperature) + np.float32(self.shift)
        out: np.ndarray = np.float32(1.0) / (np.float32(1.0) + np.exp(-scaled))
        return out


def best_span(
    start_logits: np.ndarray, end_logits: np.ndarray, sentence_mask: np.ndarray, offsets: list[tuple[int, int]]
) -> tuple[int, int] | None:
    """The highest-scoring answer span of at most MAX_ANSWER_TOKENS tokens inside the sentence: for each
    start its best end, then the best start (the first one on a tie, and its first best end)."""
    inside = np.flatnonzero(sentence_mask)
    if inside.size == 0:
        return None
    gap = inside[None, :] - inside[:, None]  # [start, end]: how many tokens the end lies after the start
    ends = np.where((gap >= 0) & (gap < MAX_ANSWER_TOKENS), end_logits[inside][None, :], -np.inf)
    best_end = np.argmax(ends, axis=1)
    start = int(np.argmax(start_logits[inside] + end_logits[inside][best_end]))
    return offsets[inside[start]][0], offsets[inside[best_end[start]]][1]


def trim(span: tuple[int, int] | None, sentence: str) -> tuple[int, int] | None:
    """The span without the spaces at its ends (a piece's offsets may take in the space before a word)."""
    if span is None:
        return None
    start, end = span
    while start < end and sentence[start].isspace():
        start += 1
    while end > start and sentence[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None
