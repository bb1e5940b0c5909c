"""Keyword terms: jieba-segmented Chinese and lower-cased Latin words, without function words."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from rag.text.segmenter import Segmenter

# Function words that match everywhere and rank nothing. Kept short on purpose: BM25's idf
# handles the rest, and a long list would drop words that matter in short queries.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "about",
        "into",
        "than",
        "then",
        "there",
        "these",
        "those",
        "they",
        "many",
        "much",
        "does",
        "did",
        "really",
        "actually",
        "just",
        "very",
        "can",
        "could",
        "would",
        "should",
        "been",
        "being",
        "any",
        "some",
        "我",
        "你",
        "他",
        "她",
        "它",
        "们",
        "的",
        "了",
        "是",
        "在",
        "和",
        "与",
        "及",
        "或",
        "就",
        "都",
        "也",
        "而",
        "吗",
        "呢",
        "吧",
        "啊",
        "么",
        "什么",
        "怎么",
        "怎样",
        "如何",
        "哪",
        "哪些",
        "哪个",
        "为什么",
        "时候",
        "这",
        "那",
        "这个",
        "那个",
        "一个",
        "有",
        "没有",
        "不",
        "对",
        "说",
        "会",
        "能",
        "可以",
        "被",
        "把",
        "给",
        "让",
        "从",
        "到",
        "中",
        "上",
        "下",
        "等",
        "之",
        "其",
        "所",
    ]
)


@cache
def _segmenter() -> Segmenter:
    return Segmenter()


# Chinese question words: "哪一年", "多长", "有没有", "谁" ask for the answer, they are not part of it (as "who" and
# "what" are stopwords).
INTERROGATIVE = re.compile(
    r"^(?:哪.{0,2}|多少.?|多长|多久|多大|多高|什么.{0,2}|怎么.?|为何|是否|有没有|是不是|谁|誰|何时|何時|啥|咋)$"
)
# "Grok3", "gpt4": a name glued to its version; the name alone is also a term.
GLUED_VERSION = re.compile(r"^([a-z]{3,})(\d+)$")


def tokenize(text: str) -> list[str]:
    """Search-mode jieba segmentation (which also yields the shorter words inside long ones)."""
    normalized = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    for token in (tok.strip() for tok in _segmenter().cut_for_search(normalized)):
        glued = GLUED_VERSION.match(token)
        tokens += [token, glued[1], glued[2]] if glued else [token]
    return [t for t in tokens if _is_term(t)]


def segment(text: str) -> list[str]:
    """Precise-mode jieba segmentation, unfiltered: the words of ``text`` in order, covering all of it."""
    return _segmenter().cut(text)


def _is_term(token: str) -> bool:
    if len(token) == 1 and token.isascii() and token.isalpha():
        return False  # "s" of a possessive, a stray initial
    if not token or token in STOPWORDS or INTERROGATIVE.match(token):
        return False
    return any(ch.isalnum() for ch in token)


# Model and product names: a word with a version number, written "GPT-4o", "Grok3" or "H100".
# ("Grok 3" with a space is left out: "experts 8" would be taken for a name.)
ENTITY = re.compile(r"(?<![a-z0-9])([a-z]{1,12})-?(\d{1,3}(?:\.\d)?[a-z]{0,2})(?![a-z0-9])")


def entities(text: str) -> set[str]:
    """Versioned names in one spelling ("GPT-5", "gpt5" -> "gpt5"), to tell whether the corpus
    mentions the thing a question is about at all."""
    normalized = unicodedata.normalize("NFKC", text).lower()
    return {name + version.split(".")[0] for name, version in ENTITY.findall(normalized)}
