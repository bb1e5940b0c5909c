"""The embedding model's tokenizer at serving time, in a fraction of the memory and load time.

XLM-R's tokenizer (multilingual-e5's) is a Unigram model of 250,002 pieces. The ``tokenizers`` library
builds it into a trie of hash maps: 290 MB of memory and 0.8 s to load, more than the transformer it feeds.
SentencePiece, whose model this is, keeps the same pieces in a double-array trie: 57 MB and 0.5 s. So the
ONNX export (``rag.tools.onnx_export``) splits tokenizer.json in two:

- ``pieces.model``: the pieces and their scores as a SentencePiece model, with SentencePiece's own
  normalisation switched off, so that it only runs the Viterbi segmentation, word by word;
- ``pretokenizer.json``: tokenizer.json without its vocabulary. ``tokenizers`` runs its normaliser
  (the precompiled NFKC map, runs of spaces to one) and pre-tokeniser (``▁`` for spaces, one word each)
  exactly as before; its special tokens (``<s>``, ``</s>`` ...) are matched in the raw text and added
  around each text as its post-processor says, here.

The ids are those of ``tokenizers.Tokenizer.from_file("tokenizer.json")`` with truncation at the same length:
tests/test_subwords.py compares them on the seed corpus, both languages' data sets and edge cases.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from rag.background import in_background
from rag.errors import ModelError

PIECES_FILE = "pieces.model"
PRETOKENIZER_FILE = "pretokenizer.json"
TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class Pieces:
    ids: list[int]
    offsets: list[tuple[int, int]]  # per piece, its start and end in the text, in characters


class PieceTokenizer:
    """tokenizers' normaliser and pre-tokeniser, then SentencePiece's Viterbi over the same pieces."""

    def __init__(self, directory: Path, max_length: int) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import sentencepiece
        from tokenizers import Tokenizer as HfTokenizer

        rules = (directory / PRETOKENIZER_FILE).read_text("utf-8")
        stub = HfTokenizer.from_str(rules)
        if stub.normalizer is None or stub.pre_tokenizer is None:
            raise ModelError(f"{directory / PRETOKENIZER_FILE} has no normalizer or pre_tokenizer")
        self._normalizer = stub.normalizer
        self._pre_tokenizer = stub.pre_tokenizer
        spec = json.loads(rules)
        self._special = {t["content"]: int(t["id"]) for t in spec["added_tokens"]}
        self._prefix, self._suffix = _template(spec["post_processor"])
        # tokenizers matches the longest special token first.
        names = sorted(self._special, key=len, reverse=True)
        self._special_pattern = re.compile("(" + "|".join(map(re.escape, names)) + ")") if names else None
        self._body = max_length - len(self._prefix) - len(self._suffix)
        model = directory / PIECES_FILE
        if not model.is_file():
            raise ModelError(f"{model} is missing: run `rag model` to export the model again")
        # Loading the pieces takes half a second, with the GIL released: it runs while the caller goes on
        # loading the rest (the transformer, the index), and the first text to encode waits for it.
        self._loading = in_background(
            lambda: sentencepiece.SentencePieceProcessor(model_file=str(model)), "rag-load-pieces"
        )

    @cached_property
    def _pieces(self) -> Any:
        return self._loading.result()

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(text) for text in texts]

    def pieces(self, texts: Sequence[str]) -> list[Pieces]:
        """Each text's piece ids with their character offsets in it, uncut and without the template's
        special tokens: what the reader lays out into its own pairs (``rag.rankers.reader_onnx``). The ids
        and offsets are those of tokenizers' ``encode(text, add_special_tokens=False)``."""
        return [self._pieces_of(text) for text in texts]

    def _pieces_of(self, text: str) -> Pieces:
        from tokenizers import PreTokenizedString

        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        at = 0
        parts = self._special_pattern.split(text) if self._special_pattern else [text]
        for index, part in enumerate(parts):
            if index % 2:  # the pattern's group: a special token
                ids.append(self._special[part])
                offsets.append((at, at + len(part)))
            elif part:
                # The same normaliser and pre-tokeniser as encode(), through tokenizers' own bookkeeping,
                # which maps each piece back to the characters of the text it came from.
                split = PreTokenizedString(part)
                split.normalize(self._normalizer.normalize)
                self._pre_tokenizer.pre_tokenize(split)
                split.tokenize(self._word_pieces)
                encoding = split.to_encoding()
                ids.extend(encoding.ids)
                offsets.extend((start + at, end + at) for start, end in encoding.offsets)
            at += len(part)
        return Pieces(ids, offsets)

    def _word_pieces(self, word: Any) -> list[Any]:
        """A word's pieces as tokenizers' Tokens, their offsets in the word's UTF-8 bytes (as tokenizers
        counts them). SentencePiece normalises nothing here, so the pieces spell the word out; an unknown
        piece is given as its own text, which the vocabulary does not hold."""
        from tokenizers import Token

        tokens, at = [], 0
        for piece in self._pieces.encode(str(word), out_type=str):
            size = len(piece.encode("utf-8"))
            tokens.append(Token(self._pieces.piece_to_id(piece), piece, (at, at + size)))
            at += size
        return tokens

    def encode(self, text: str) -> list[int]:
        body: list[int] = []
        parts = self._special_pattern.split(text) if self._special_pattern else [text]
        for index, part in enumerate(parts):
            if index % 2:  # the pattern's group: a special token
                body.append(self._special[part])
            elif part:
                normalized = self._normalizer.normalize_str(part)
                # One word at a time: SentencePiece encodes a list on new threads, 8x slower for a question.
                for word, _ in self._pre_tokenizer.pre_tokenize_str(normalized):
                    body.extend(self._pieces.encode(word))
        return self._prefix + body[: self._body] + self._suffix


def split_tokenizer(tokenizer_json: Path, out: Path) -> None:
    """Write pieces.model and pretokenizer.json from a Unigram tokenizer.json.

    Runs at export time: it needs protobuf (which onnx brings) for SentencePiece's model format.
    """
    spec = json.loads(tokenizer_json.read_text("utf-8"))
    model = spec["model"]
    if model.get("type") != "Unigram" or model.get("byte_fallback"):
        raise ModelError(f"{tokenizer_json}: the ONNX export handles Unigram tokenizers, not {model.get('type')}")
    from sentencepiece import sentencepiece_model_pb2

    sp_model: Any = sentencepiece_model_pb2  # generated protobuf code: no types to check

    special = {int(t["id"]) for t in spec["added_tokens"]}
    proto = sp_model.ModelProto()
    piece_type = sp_model.ModelProto.SentencePiece
    for index, (piece, score) in enumerate(model["vocab"]):
        entry = proto.pieces.add()
        entry.piece, entry.score = piece, score
        if index == model["unk_id"]:
            entry.type = piece_type.UNKNOWN
        elif index in special:
            entry.type = piece_type.CONTROL  # matched in the raw text, above, never inside a word
    proto.trainer_spec.model_type = sp_model.TrainerSpec.UNIGRAM
    proto.trainer_spec.vocab_size = len(model["vocab"])
    proto.trainer_spec.unk_id = model["unk_id"]
    proto.trainer_spec.bos_id = proto.trainer_spec.eos_id = proto.trainer_spec.pad_id = -1
    # The text reaches SentencePiece normalised and split by tokenizers: it must change nothing.
    proto.normalizer_spec.name = "identity"
    proto.normalizer_spec.add_dummy_prefix = False
    proto.normalizer_spec.remove_extra_whitespaces = False
    proto.normalizer_spec.escape_whitespaces = False
    (out / PIECES_FILE).write_bytes(proto.SerializeToString())

    # Its special tokens and post-processor are read by PieceTokenizer, not by tokenizers.
    rules = {**spec, "model": {"type": "WordLevel", "vocab": {"<unk>": 0}, "unk_token": "<unk>"}}
    (out / PRETOKENIZER_FILE).write_text(json.dumps(rules, ensure_ascii=False), "utf-8")


def _template(processor: dict[str, Any] | None) -> tuple[list[int], list[int]]:
    """The ids a single text gets before and after it from a TemplateProcessing post-processor."""
    if processor is None:
        return [], []
    if processor.get("type") != "TemplateProcessing":
        raise ModelError(f"the tokenizer's post-processor {processor.get('type')} is not a template")
    ids = {name: token["ids"] for name, token in processor["special_tokens"].items()}
    prefix: list[int] = []
    suffix: list[int] = []
    target = prefix
    for item in processor["single"]:
        if "Sequence" in item:
            target = suffix
        else:
            target.extend(ids[item["SpecialToken"]["id"]])
    return prefix, suffix
