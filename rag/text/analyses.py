"""What an index build reads off each text on its own, kept beside the index so that the next build reads only
the texts that are new.

Each passage and sentence is tokenised for keyword search, and each document is read aloud for the table of
names spelt by sound (``crosslingual.sound_table``). Neither depends on the rest of the corpus, and over a large
corpus they, not embedding, were most of an incremental build: one small file added to 1,000 documents read all
of them again. The build's tokens and sound tables are saved in the index folder, in a file named by a digest of
the code and data that make them (this package's tokeniser, jieba's and pypinyin's versions, Python's Unicode
tables), so a change to any of them reads every text anew; each text is found by a digest of its own, and the file
holds only the last build's texts.
"""

from __future__ import annotations

import unicodedata
from importlib import metadata
from pathlib import Path

from rag.diskcache import code_digest, entry_key, load, save_alone
from rag.text import segmenter
from rag.text.crosslingual import SoundTable, sound_table
from rag.text.tokenize import tokenize

FORMAT = 1
# The code that tokenises a text and reads it aloud: a change to any of it reads every text anew.
ANALYSIS_CODE = (
    "rag.text.analyses",
    "rag.text.tokenize",
    "rag.text.segmenter",
    "rag.text.scripts",
    "rag.text.crosslingual",
)
PREFIX = ".analyses-"
SEPARATOR = "\n"  # between a text's tokens, none of which holds it: jieba cuts text at white space


class Analyses:
    """Tokens and sound tables of texts: the previous build's where it read the same text, else made here."""

    def __init__(self, tokens: dict[bytes, str] | None = None, sounds: dict[bytes, SoundTable] | None = None) -> None:
        self._previous_tokens = tokens or {}
        self._previous_sounds = sounds or {}
        self._tokens: dict[bytes, str] = {}  # this build's texts: what ``save`` keeps
        self._sounds: dict[bytes, SoundTable] = {}

    @classmethod
    def load(cls, index_dir: Path) -> Analyses:
        """The analyses the last build over ``index_dir`` saved; none when there are none it can use."""
        saved = load(analyses_path(index_dir), FORMAT, compress=True)
        return cls(*saved) if isinstance(saved, tuple) and len(saved) == 2 else cls()

    def tokens(self, text: str) -> list[str]:
        """``tokenize(text)``."""
        key = _key(text)
        joined = self._tokens.get(key)
        if joined is None:
            joined = self._previous_tokens.get(key)
            if joined is None:
                tokens = tokenize(text)
                if any(SEPARATOR in token for token in tokens):  # would not split back: not kept
                    return tokens
                joined = SEPARATOR.join(tokens)
            self._tokens[key] = joined
        return joined.split(SEPARATOR) if joined else []

    def sounds(self, text: str) -> SoundTable:
        """``sound_table(text)``."""
        key = _key(text)
        table = self._sounds.get(key)
        if table is None:
            table = self._previous_sounds.get(key)
            self._sounds[key] = table = sound_table(text) if table is None else table
        return table

    def save(self, index_dir: Path) -> None:
        """This build's analyses in ``index_dir``, in place of any earlier file (a warning if they cannot be)."""
        save_alone(analyses_path(index_dir), PREFIX, FORMAT, (self._tokens, self._sounds), "the texts' tokens")


def analyses_path(index_dir: Path) -> Path:
    jieba = segmenter.default_cache().name  # jieba's version and its dictionary's size
    inputs = [jieba, metadata.version("pypinyin"), unicodedata.unidata_version]
    return index_dir / f"{PREFIX}{code_digest(ANALYSIS_CODE, *(i.encode() for i in inputs))}"


def _key(text: str) -> bytes:
    return entry_key(text.encode("utf-8", "surrogatepass"))
