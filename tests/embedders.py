"""Fast stand-ins for the slow parts of building an index, so index, pipeline and CLI tests need no model.

``HashEmbedder`` implements rag.embedding.Embedder by feature hashing: texts that share character
bigrams get similar vectors. ``CEDICT_SAMPLE`` is a few CC-CEDICT lines: building the dictionary from
the full file takes seconds per index. ``CORPUS`` is a small mixed-language, mixed-format seed folder.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.embedding import Embedder, Kind
from rag.indexing import Built, build_index
from rag.stores.base import Store
from rag.stores.local import LocalBackend
from rag.text.crosslingual import Headwords, read_headwords
from rag.types import Candidate, Reading

DIMENSION = 64
# Query and passage vectors differ slightly, as with e5's "query: " and "passage: " prompts.
KIND_OFFSET = 0.05
KIND_AXIS: dict[str, int] = {"query": 0, "passage": 1}


class HashEmbedder:
    """Character bigrams hashed into signed buckets (the hashing trick), then L2-normalised."""

    def __init__(self, name: str = "test/hash-bigrams", dimension: int = DIMENSION) -> None:
        self.name = name
        self.dimension = dimension
        self.calls: list[tuple[int, Kind]] = []  # (number of texts, kind) per call

    def embed(self, texts: list[str], kind: Kind, progress: bool = False) -> np.ndarray:
        self.calls.append((len(texts), kind))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            vectors[row] = self._vector(text, kind)
        return vectors

    def _vector(self, text: str, kind: Kind) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for feature in bigrams(text):
            # crc32, not hash(): str hashes are salted per process, and vectors must not change between runs.
            h = zlib.crc32(feature.encode())
            vector[h % self.dimension] += 1.0 if (h >> 16) & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm:
            vector /= norm
        vector[KIND_AXIS[kind]] += KIND_OFFSET
        return vector / np.linalg.norm(vector)


def bigrams(text: str) -> list[str]:
    squashed = "".join(ch for ch in unicodedata.normalize("NFKC", text).lower() if ch.isalnum())
    return [squashed[i : i + 2] for i in range(len(squashed) - 1)] or ([squashed] if squashed else [])


class BigramReader:
    """Stands in for rag.rankers.readernet.Reader: the probability is the share of the question's bigrams that the
    sentence holds, and the short answer is the sentence's first word (a run of letters or digits)."""

    path = "bigrams"

    def __init__(self, threshold: float = 0.3, uncertain: float | None = None, reads: int = 1) -> None:
        self.threshold = threshold
        self.uncertain = uncertain
        self.reads = reads  # as the verifier: the scorer's first sentences it reads
        self.batches: list[int] = []  # sentences read per call

    def read(self, question: str, candidates: Sequence[Candidate]) -> list[Reading]:
        self.batches.append(len(candidates))
        wanted = set(bigrams(question))
        out = []
        for c in candidates:
            share = len(wanted & set(bigrams(c.sentence))) / max(1, len(wanted))
            word = re.search(r"\w+", c.sentence)
            out.append(Reading(share, (word.start(), word.end()) if word else None))
        return out

    def logits_and_spans(
        self, question: str, candidates: Sequence[Candidate]
    ) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
        """As the verifier gives them: the share of bigrams as a logit (share 0.5 is logit 0)."""
        readings = self.read(question, candidates)
        return np.array([10.0 * r.probability - 5.0 for r in readings]), [r.answer for r in readings]


class FailingEmbedder(HashEmbedder):
    """Raises on the call after ``succeed`` calls: a model that dies half-way through a build."""

    def __init__(self, succeed: int) -> None:
        super().__init__()
        self.succeed = succeed

    def embed(self, texts: list[str], kind: Kind, progress: bool = False) -> np.ndarray:
        if len(self.calls) >= self.succeed:
            raise RuntimeError("embedding failed: out of memory")
        return super().embed(texts, kind)


CEDICT_SAMPLE = [
    "熊貓 熊猫 [xiong2 mao1] /panda/CL:隻|只[zhi1]/",
    "竹子 竹子 [zhu2 zi5] /bamboo/CL:棵[ke1],支[zhi1],根[gen1]/",
    "茶 茶 [cha2] /tea/tea plant/CL:杯[bei1],壺|壶[hu2]/",
    "杭州 杭州 [Hang2 zhou1] /Hangzhou/",
]


def sample_headwords() -> Headwords:
    """``CEDICT_SAMPLE`` read as ``crosslingual.default_headwords`` reads the whole table: a stand-in for it where
    indexes are built many times (the whole table costs a second per build, and 14 s the first time)."""
    return read_headwords(CEDICT_SAMPLE)


PANDA_EN = """\
---
title: Giant pandas, explained
author: Jane Doe
date: 2024-05-01
source: https://example.com/pandas
---
# Giant pandas

Giant pandas live in the mountain forests of central China.
Giant pandas eat bamboo for almost all of their diet, and an adult eats up to forty pounds of bamboo a day.

A newborn panda weighs about as much as a stick of butter. Wild pandas live alone for most of the year.
"""

PANDA_ZH = """\
大熊猫生活在中国四川、陕西和甘肃的山区森林中。

大熊猫主要以竹子为食，一只成年大熊猫每天要吃十几公斤竹子。大熊猫每天大约有一半的时间在进食。

大熊猫是中国的国宝，野生大熊猫的数量已经超过一千八百只。
"""

ZOO_HTML = """\
<!DOCTYPE html>
<html>
<head><title>City Zoo visitor guide</title></head>
<body>
<nav><a href="/">Home</a> | <a href="/tickets">Tickets</a></nav>
<article>
<h1>City Zoo visitor guide</h1>
<p>The zoo opens at nine every morning and closes at six in the evening.</p>
<p>The two giant pandas at the zoo eat fresh bamboo that is delivered every morning.</p>
<p>Tickets cost twenty dollars for adults and ten dollars for children.</p>
</article>
<footer>Copyright City Zoo</footer>
</body>
</html>
"""

TEA_ZH = """\
龙井茶产于浙江杭州西湖一带，是中国著名的绿茶。

绿茶不经过发酵，较多地保留了鲜叶的天然物质。春天采摘的明前茶品质最好，价格也最高。
"""

CORPUS = {
    "panda_en.md": PANDA_EN,
    "panda_zh.txt": PANDA_ZH,
    "zoo.html": ZOO_HTML,
    "tea_zh.txt": TEA_ZH,
}


def write_corpus(folder: Path, files: dict[str, str] = CORPUS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, "utf-8")
    return folder


def build_local(settings: Settings, embedder: Embedder | None = None, sources: list[Path] | None = None) -> Built:
    """Build the local index of ``settings.seeds_dir`` (or ``sources``) with the hash embedder and the
    CC-CEDICT sample handed in."""
    backend = LocalBackend(settings.index_dir, settings.index_type)
    return build_index(
        settings, embedder or HashEmbedder(), backend, sources or [settings.seeds_dir], cedict=CEDICT_SAMPLE
    )


def open_local(settings: Settings) -> Store:
    return LocalBackend(settings.index_dir, settings.index_type).open()
