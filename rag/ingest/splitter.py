"""The LangChain splitter behind ``rag.ingest.chunking``, changed to say where its chunks are.

Kept apart from ``chunking`` so that only a build imports LangChain.
"""

from __future__ import annotations

import itertools
import re

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.ingest.chunking import CLOSERS, SENTENCE_ENDS, trim

SEPARATORS = [
    "\n\n",
    "\n",
    rf"[{SENTENCE_ENDS}]+[{CLOSERS}]*|\.(?=\s)",
    "[，,]",
    " ",
    "",
]


class SpanSplitter(RecursiveCharacterTextSplitter):
    """RecursiveCharacterTextSplitter that says where its chunks are.

    Two changes to the stock splitter. It cuts down the separator hierarchy only where a piece does
    not fit, then packs all pieces in one pass: the stock splitter closes a chunk before every
    paragraph too long to fit, so a heading such as "亮点" or "Show notes" ahead of a long paragraph
    became a chunk of its own. And LangChain packs piece numbers, not piece text: each piece goes in
    as a token ("<7>") measured by the length of the piece it stands for, so every chunk comes back as
    a run of pieces whose offsets are known. Nothing is searched for, so a repeated sentence cannot be
    mistaken for another, with or without overlap.
    """

    def __init__(self, chunk_size: int, chunk_overlap: int) -> None:
        self._token_lengths: dict[str, int] = {}
        super().__init__(
            separators=SEPARATORS,
            is_separator_regex=True,
            keep_separator="end",
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            length_function=self._token_length,
            strip_whitespace=False,
        )

    def split_spans(self, text: str) -> list[tuple[int, int]]:
        pieces = self._pieces(text, self._separators)
        bounds = list(itertools.accumulate(map(len, pieces), initial=0))
        tokens = [f"<{i}>" for i in range(len(pieces))]
        self._token_lengths = dict(zip(tokens, map(len, pieces), strict=True))
        spans: list[tuple[int, int]] = []
        for run in self._merge_splits(tokens, ""):
            numbers = [int(n) for n in _TOKEN.findall(run)]
            start, end = trim(text, bounds[numbers[0]], bounds[numbers[-1] + 1])
            if start < end:
                spans.append((start, end))
        return _drop_contained(spans)

    def _token_length(self, token: str) -> int:
        return self._token_lengths.get(token, len(token))

    def _pieces(self, text: str, separators: list[str]) -> list[str]:
        level = next((i for i, sep in enumerate(separators) if not sep or re.search(sep, text)), None)
        if level is None:
            return [text]
        separator = separators[level]
        if not separator:
            return list(text)
        pieces: list[str] = []
        for piece in _split_keeping_end(text, separator):
            if len(piece) < self._chunk_size:
                pieces.append(piece)
            else:
                pieces.extend(self._pieces(piece, separators[level + 1 :]))
        return pieces


_TOKEN = re.compile(r"<(\d+)>")


def _split_keeping_end(text: str, separator: str) -> list[str]:
    parts = re.split(f"({separator})", text)
    pieces = [text_part + sep for text_part, sep in zip(parts[0::2], [*parts[1::2], ""], strict=True)]
    return [piece for piece in pieces if piece]


def _drop_contained(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    # Once blank pieces are stripped, a chunk can cover no more than its neighbour does (only blanks
    # were carried over or added); it would be a duplicate.
    kept: list[tuple[int, int]] = []
    for start, end in spans:
        if kept and kept[-1][0] <= start and end <= kept[-1][1]:
            continue
        if kept and start <= kept[-1][0]:
            kept.pop()
        kept.append((start, end))
    return kept
