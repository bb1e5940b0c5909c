"""jieba's segmentation, with its dictionary loaded one first character at a time as texts need it.

jieba reads its whole dictionary on first use: about 500,000 words and their prefixes, 1 s and 60 MB, the
largest part of the server's start. But every lookup jieba makes while segmenting a text is a substring of
that text, so only the words that begin with one of its characters can matter. The dictionary is kept split
by first character (built once from jieba's own, and cached beside jieba's cache), and the parts a text
needs are added before it is segmented: the words come out as jieba's own, and a server loads a few
hundred parts in its first questions instead of the whole dictionary at start. One change to jieba's words:
a word it made up that took the particle after it ("庄明浩是") is cut in two.
"""

from __future__ import annotations

import logging
import marshal
import tempfile
import threading
from collections import defaultdict
from pathlib import Path

import jieba

from rag.diskcache import load_or_make
from rag.text.scripts import HAN_RUN

CACHE_FORMAT = 2  # 2: saved as (format, value), by rag.diskcache
Parts = dict[str, bytes]  # first character -> its words and prefixes with their counts, marshalled
# jieba's HMM, finding a word its dictionary lacks (most often a name), sometimes takes the particle after it
# into the word: "主播庄明浩是一个" gives "庄明浩是". Names ending in one of these are rare.
GLUED_PARTICLES = frozenset("是的了在说")


class Segmenter:
    def __init__(self, cache: Path | None = None) -> None:
        jieba.setLogLevel(logging.WARNING)
        cache = cache or default_cache()
        total, self._parts = load_or_make(cache, CACHE_FORMAT, split_dictionary, "jieba's dictionary")
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.FREQ, self._tokenizer.total, self._tokenizer.initialized = {}, total, True
        self._lock = threading.Lock()

    def cut_for_search(self, text: str) -> list[str]:
        """jieba's search mode: the words of ``text``, and the dictionary's shorter words inside long ones."""
        freq = self._tokenizer.FREQ
        words: list[str] = []
        for word in self.cut(text):
            for n in (2, 3):  # as jieba's own search mode, over the words ``cut`` gives
                if len(word) > n:
                    words += [word[i : i + n] for i in range(len(word) - n + 1) if freq.get(word[i : i + n])]
            words.append(word)
        return words

    def cut(self, text: str) -> list[str]:
        """jieba's precise mode: the words of ``text`` in order, covering all of it; a word jieba made up
        that ends in a particle is two words ("庄明浩是" -> "庄明浩", "是")."""
        self._add_parts(text)
        words: list[str] = []
        for word in self._tokenizer.cut(text):
            made_up = word not in self._tokenizer.FREQ
            if len(word) >= 3 and word[-1] in GLUED_PARTICLES and HAN_RUN.fullmatch(word) and made_up:
                words += [word[:-1], word[-1]]
            else:
                words.append(word)
        return words

    def _add_parts(self, text: str) -> None:
        # Under the lock even when nothing is missing: a part another thread is adding is not yet usable.
        with self._lock:
            for char in set(text) & self._parts.keys():
                self._tokenizer.FREQ.update(marshal.loads(self._parts.pop(char)))


def default_cache() -> Path:
    """Beside jieba's own cache, named by jieba's version and its dictionary's size."""
    size = Path(jieba.__file__).with_name(jieba.DEFAULT_DICT_NAME).stat().st_size
    return Path(tempfile.gettempdir()) / f"rag-jieba-{jieba.__version__}-{size}.parts"


def split_dictionary() -> tuple[int, Parts]:
    """jieba's default dictionary as (total count, parts by first character)."""
    tokenizer = jieba.Tokenizer()
    words, total = tokenizer.gen_pfdict(tokenizer.get_dict_file())
    by_first: defaultdict[str, dict[str, int]] = defaultdict(dict)
    for word, count in words.items():
        by_first[word[0]][word] = count
    return total, {char: marshal.dumps(part) for char, part in by_first.items()}
