"""Split a document's clean text into chunks of whole sentences, with offsets into that text.

The text is cut down a hierarchy of separators only where a piece does not fit: paragraphs, then
lines, then sentences (Chinese and Latin end marks, kept at the end of the sentence they close), then
commas, then spaces, then characters. LangChain's RecursiveCharacterTextSplitter (``rag.ingest.splitter``)
packs the pieces into chunks of at most ``chunk_size`` characters, with its overlap. Offsets come from
the pieces, never from searching the text for a chunk's words, and sentences are cut inside each chunk,
so a sentence never spans two chunks and ``text[start:end] == chunk.text`` holds by construction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from rag.types import Chunk, Document, Sentence

SENTENCE_ENDS = "。！？!?；;"
# Closing quotes and brackets after an end mark belong to the sentence they close: 。” ？」 !)
CLOSERS = "”’」』）)】》\"'"
# Bump when a change to chunking would change the chunks: indexes built before are then stale.
VERSION = 1
MIN_SENTENCE_CONTENT = 2  # letters or digits; "。" or "A" alone is not a sentence
# Where a sentence may end (a line break, an end mark, a dot), and what after an end mark still belongs to it.
_END_MARKS = re.compile(f"[\n.{re.escape(SENTENCE_ENDS)}]")
_TRAILING = re.compile(f"[{re.escape(SENTENCE_ENDS + CLOSERS)}]*")


def chunk_document(doc: Document, chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be greater than 0. Currently, the chunk_size is {chunk_size}")
    if not 0 <= chunk_overlap < chunk_size:
        raise ValueError(
            f"chunk_overlap must be between 0 and chunk_size - 1. Currently, the chunk_overlap is {chunk_overlap}"
        )
    # Imported here, not with the module: LangChain takes a few tenths of a second to import, and the server
    # (which splits sentences) and the freshness check (which reads VERSION) never chunk.
    from rag.ingest.splitter import SpanSplitter

    spans = SpanSplitter(chunk_size, chunk_overlap).split_spans(doc.text)
    return [_chunk(doc, index, start, end) for index, (start, end) in enumerate(spans)]


def chunk_corpus(documents: Iterable[Document], chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    return [chunk for doc in documents for chunk in chunk_document(doc, chunk_size, chunk_overlap)]


def split_sentences(text: str, offset: int = 0) -> list[Sentence]:
    """Sentences of text, ending at 。！？!?；; (with any closing quotes), at ". " or at a line break.

    Each is stripped of surrounding whitespace; offsets are ``offset`` plus the position in text.
    """
    sentences: list[Sentence] = []
    start = 0
    for end in _sentence_ends(text):
        sentence = _sentence(text, start, end, offset)
        if sentence is not None:
            sentences.append(sentence)
        start = end
    return sentences


def first_sentence(text: str, offset: int = 0) -> Sentence | None:
    """``split_sentences(text, offset)[0]`` (None for none), reading no further than that sentence."""
    start = 0
    for end in _sentence_ends(text):
        sentence = _sentence(text, start, end, offset)
        if sentence is not None:
            return sentence
        start = end
    return None


def last_sentence(text: str, offset: int = 0) -> Sentence | None:
    """``split_sentences(text, offset)[-1]`` (None for none), building only that sentence."""
    ends = list(_sentence_ends(text))
    for start, end in zip(reversed([0, *ends[:-1]]), reversed(ends), strict=True):
        sentence = _sentence(text, start, end, offset)
        if sentence is not None:
            return sentence
    return None


def _sentence_ends(text: str) -> Iterator[int]:
    start = -1  # the last end given, -1 before the first
    at = 0
    while match := _END_MARKS.search(text, at):
        i = match.start()
        if text[i] == "\n":
            i += 1
        elif text[i] != "." or _ends_latin_sentence(text, max(start, 0), i):
            trailing = _TRAILING.match(text, i + 1)
            i = trailing.end() if trailing else i + 1
        else:
            at = i + 1
            continue
        yield i
        start = at = i
    if start != len(text):
        yield len(text)


def _ends_latin_sentence(text: str, start: int, i: int) -> bool:
    # "Vol.51", "2.0" and "杰弗里.辛顿" have no space after the dot; "1. " and "J. " are too short to
    # be sentences, so a list number or an initial does not end one.
    followed_by_space = i + 1 == len(text) or text[i + 1].isspace()
    return followed_by_space and len(text[start:i].strip()) > 3


def _sentence(text: str, start: int, end: int, offset: int) -> Sentence | None:
    start, end = trim(text, start, end)
    piece = text[start:end]
    if sum(map(str.isalnum, piece)) < MIN_SENTENCE_CONTENT:
        return None
    return Sentence(start=offset + start, end=offset + end, text=piece)


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """``text[start:end]`` without the whitespace at either end, as offsets."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _chunk(doc: Document, index: int, start: int, end: int) -> Chunk:
    text = doc.text[start:end]
    return Chunk(
        chunk_id=f"{doc.doc_id}#{index}",
        doc_id=doc.doc_id,
        index=index,
        start=start,
        end=end,
        text=text,
        sentences=tuple(split_sentences(text, offset=start)),
    )
