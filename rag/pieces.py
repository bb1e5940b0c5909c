"""The model's word pieces: the one tokenisation that the embedder and the reader share.

Both read XLM-R's 250,002-piece vocabulary, which costs hundreds of MB and most of a second to load, so a
process loads it once, in the embedder, and hands it to the reader through ``PieceTokenizer``. Whatever
library the embedder's tokenizer comes from, it needs only to give each text's piece ids and their
character offsets, without special tokens: the reader adds those itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Pieces:
    ids: list[int]
    offsets: list[tuple[int, int]]  # per piece, its start and end in the text, in characters


@runtime_checkable
class PieceTokenizer(Protocol):
    def pieces(self, texts: Sequence[str]) -> list[Pieces]: ...


class TokenizersPieces:
    """A ``tokenizers.Tokenizer`` as a PieceTokenizer (the library transformers' fast tokenizers run on)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def pieces(self, texts: Sequence[str]) -> list[Pieces]:
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [Pieces(list(e.ids), list(e.offsets)) for e in encodings]


def piece_tokenizer(tokenizer: object) -> PieceTokenizer:
    """An embedder's tokenizer as a PieceTokenizer: itself when it is one, wrapped when it is tokenizers'."""
    if isinstance(tokenizer, PieceTokenizer):
        return tokenizer
    if type(tokenizer).__module__.split(".")[0] == "tokenizers":
        return TokenizersPieces(tokenizer)
    raise TypeError(f"{type(tokenizer).__name__} gives no word pieces: it needs a pieces(texts) method")
