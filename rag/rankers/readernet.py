"""The reader: a cross-encoder that reads the question and a candidate sentence together.

It is the bottom layers of the provisioned multilingual-e5-small with two small heads: one scores
whether the sentence answers the question, one marks the short answer's start and end inside the
sentence. Training (``rag.training.train``) changes only the transformer layers and the heads, so only
those ship (``rag/models/reader.safetensors``, each weight matrix in int8 with a scale per row: ``packed``);
the 96M-parameter embedding matrix is taken from the provisioned model at load time. ``reader.json`` beside
the weights is its manifest: the base model, the layers kept, the data, the seed and the dev figures; a reader
trained on another base model is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerBase

from rag.errors import ModelError
from rag.rankers.reading import (
    MANIFEST,
    MAX_TOKENS,
    QUESTION_TOKENS,
    SENTENCE_POOLING,
    SEPARATOR,
    VERIFIER_WEIGHTS,
    WEIGHTS,
    Calibration,
    best_span,
    checked_manifest,
    checked_verifier,
    default_dir,
    trim,
    verifier_reads,
)
from rag.tools.onnx_export import quantize_rows
from rag.types import Candidate, Reading


class ReaderNet(nn.Module):
    def __init__(self, encoder: BertModel, pooling: str = SENTENCE_POOLING) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        hidden = encoder.config.hidden_size
        self.relevance = nn.Linear(hidden, 1)
        self.span = nn.Linear(hidden, 2)

    def forward(self, encoded: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        """Relevance logits per pair, and start/end logits per token."""
        states = self.encoder(input_ids=encoded.input_ids, attention_mask=encoded.attention_mask).last_hidden_state
        return self.heads(states, encoded.attention_mask, encoded.sentence_mask)

    def heads(
        self, states: torch.Tensor, attention_mask: torch.Tensor, sentence_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The two heads over the encoder's last hidden state (the ONNX export runs them in its graph too)."""
        # The candidate sentence's own tokens, not the whole input: pooled over everything, the sentence
        # after an answer (which reads the answer as its context) looked like the answer itself.
        pooled_over = sentence_mask if self.pooling == SENTENCE_POOLING else attention_mask
        mask = pooled_over.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.relevance(pooled).squeeze(-1), self.span(states)

    def trained_state(self) -> dict[str, torch.Tensor]:
        """What training changes: the transformer layers and the heads, not the embeddings."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.embeddings.")}


@dataclass(frozen=True)
class Encoded:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    sentence_mask: torch.Tensor  # 1 for tokens inside the candidate sentence
    offsets: list[list[tuple[int, int]]]  # per token, character offsets inside the sentence


def encode(tokenizer: PreTrainedTokenizerBase, questions: Sequence[str], passages: Sequence[Candidate]) -> Encoded:
    """Tokenise (question, title | before | sentence) pairs, keeping where the sentence's tokens are."""
    seconds = [f"{p.title}{SEPARATOR}{p.before}{SEPARATOR}{p.sentence}" for p in passages]
    firsts = [_clip_question(tokenizer, q) for q in questions]
    batch = tokenizer(
        firsts,
        seconds,
        truncation="only_second",
        max_length=MAX_TOKENS,
        padding=True,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    sentence_mask = torch.zeros_like(batch["input_ids"])
    offsets: list[list[tuple[int, int]]] = []
    for row, p in enumerate(passages):
        begin = len(seconds[row]) - len(p.sentence)
        ids = batch.sequence_ids(row)
        spans = []
        for t, (start, end) in enumerate(batch["offset_mapping"][row].tolist()):
            inside = ids[t] == 1 and start >= begin and end > start
            sentence_mask[row, t] = int(inside)
            spans.append((start - begin, end - begin) if inside else (0, 0))
        offsets.append(spans)
    return Encoded(batch["input_ids"], batch["attention_mask"], sentence_mask, offsets)


def _clip_question(tokenizer: PreTrainedTokenizerBase, question: str) -> str:
    ids = tokenizer(question, add_special_tokens=False)["input_ids"]
    return question if len(ids) <= QUESTION_TOKENS else str(tokenizer.decode(ids[:QUESTION_TOKENS]))


def token_targets(encoded: Encoded, answers: Sequence[tuple[int, int] | None]) -> tuple[list[int], list[int]]:
    """Start and end token of each answer (-100, ignored by the loss, where there is none or it was cut)."""
    starts, ends = [], []
    for row, answer in enumerate(answers):
        start = end = -100
        if answer is not None:
            for t, (a, b) in enumerate(encoded.offsets[row]):
                if not encoded.sentence_mask[row, t]:
                    continue
                if start < 0 and (a <= answer[0] < b or a >= answer[0]):
                    start = t
                if a < answer[1]:
                    end = t
            if start < 0 or end < start:
                start = end = -100
        starts.append(start)
        ends.append(end)
    return starts, ends


@torch.inference_mode()
def logits_and_spans(
    net: ReaderNet, tokenizer: PreTrainedTokenizerBase, question: str, passages: Sequence[Candidate]
) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
    """Uncalibrated relevance logits and the best answer span (untrimmed) of each passage, in one batch.

    Serving (``Reader.read``) and the dev figures of training both read through this, so the figures
    the threshold is chosen on are those of the reader as it serves."""
    encoded = encode(tokenizer, [question] * len(passages), passages)
    relevance, spans = net(encoded)
    starts, ends, mask = spans[..., 0].numpy(), spans[..., 1].numpy(), encoded.sentence_mask.numpy()
    found = [best_span(starts[i], ends[i], mask[i], encoded.offsets[i]) for i in range(len(passages))]
    return relevance.numpy(), found


class Reader:
    def __init__(
        self,
        net: ReaderNet,
        tokenizer: PreTrainedTokenizerBase,
        manifest: dict[str, Any],
        path: str = "",
        reads: int = 1,
    ) -> None:
        """``reads``: as the verifier, how many of the scorer's first sentences it reads."""
        self.net = net.eval()
        self.path = path
        self.reads = reads
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.calibration = Calibration.from_manifest(manifest)
        self.threshold = self.calibration.threshold
        self.uncertain = self.calibration.uncertain

    def read(self, question: str, passages: Sequence[Candidate]) -> list[Reading]:
        """One batched forward pass over all candidate sentences."""
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
        return logits_and_spans(self.net, self.tokenizer, question, passages)


def build_net(model_dir: Path, layers: int) -> ReaderNet:
    """The base model's bottom ``layers`` layers and fresh heads (the starting point of training)."""
    encoder = BertModel.from_pretrained(str(model_dir), num_hidden_layers=layers, add_pooling_layer=False)
    return ReaderNet(encoder)


# Beside each int8 matrix in a weights file, its scales: one float32 per row.
SCALES = ".int8_scales"


def packed(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` as the weights files store it: each matrix in int8, a row at a time scaled by its largest
    magnitude over 127 (``quantize_rows``, as the embedder's word table), with those scales beside it; the rest
    (biases, layer norms) in fp16. A byte a parameter: the reader and the verifier fit the 25 MB the reader issue
    allows, and their decisions are those of fp16 (README, "Stored in int8")."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        weights = tensor.detach().to("cpu", torch.float32)
        if weights.dim() != 2:
            out[name] = weights.to(torch.float16).contiguous()
            continue
        rows = quantize_rows(weights.numpy())  # as the embedder's word table is stored
        out[name] = torch.from_numpy(np.ascontiguousarray(rows["values"]))
        out[name + SCALES] = torch.from_numpy(np.ascontiguousarray(rows["scale"]))
    return out


def unpacked(stored: Mapping[str, torch.Tensor], source: str = "the weights") -> dict[str, torch.Tensor]:
    """The float32 weights of a weights file, stored by ``packed`` or, as before it, in fp16: each int8 matrix times
    its scales, as the ONNX export computes it (``rag.tools.onnx_export.store_int8``), so that both runtimes
    compute on the same weights. A matrix in int8 without one scale per row is refused, never read as it is."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in stored.items():
        if name.endswith(SCALES):
            continue
        scales = stored.get(name + SCALES)
        if tensor.dtype == torch.int8 and (scales is None or tensor.dim() != 2 or scales.shape != tensor.shape[:1]):
            raise ModelError(f"{source}: {name} is stored in int8 without one scale per row; retrain or copy it again")
        weights = tensor if scales is None else tensor.to(torch.float32) * scales.to(torch.float32)[:, None]
        out[name] = weights.to(torch.float32)
    return out


def save_weights(state: Mapping[str, torch.Tensor], path: Path) -> None:
    save_file(packed(state), str(path))


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    return unpacked(load_file(str(path)), str(path))


def save_reader(net: ReaderNet, manifest: dict[str, Any], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    save_weights(net.trained_state(), target / WEIGHTS)
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")


def load_reader(model_dir: Path, base_model: str, source: Path | None = None, verifier: Path | None = None) -> Reader:
    """The shipped reader on top of the provisioned base model in ``model_dir``; with ``verifier``, the verifier
    in that folder: the reader with the layers and head in its ``verifier.safetensors`` in place of its own."""
    source = source or default_dir()
    manifest = checked_manifest(source, base_model, "RAG_READER" if verifier is None else "RAG_VERIFIER")
    config = BertConfig.from_pretrained(str(model_dir), num_hidden_layers=int(manifest["layers"]))
    net = ReaderNet(BertModel(config, add_pooling_layer=False), str(manifest.get("pooling", "all")))
    # Only the embedding tensors of the base model (the embedder has loaded the rest already).
    with safe_open(str(model_dir / "model.safetensors"), framework="pt") as base:
        embeddings = {f"encoder.{k}": base.get_tensor(k) for k in base.keys() if k.startswith("embeddings.")}  # noqa: SIM118 (not a dict)
    trained = load_weights(source / WEIGHTS)
    missing, unexpected = net.load_state_dict({**embeddings, **trained}, strict=False)
    if unexpected or [k for k in missing if not k.endswith("position_ids")]:
        raise ModelError(f"the reader in {source} does not fit its base model (missing {missing}, extra {unexpected})")
    path, reads = source / WEIGHTS, 1
    if verifier is not None:
        reads = verifier_reads(checked_verifier(verifier, source))
        path = verifier / VERIFIER_WEIGHTS
        retrained = load_weights(path)
        extra = set(retrained) - set(trained)
        if extra:
            raise ModelError(f"the verifier in {verifier} does not fit the reader (extra {sorted(extra)})")
        net.load_state_dict(retrained, strict=False)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return Reader(net, tokenizer, manifest, str(path), reads)
