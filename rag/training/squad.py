"""SQuAD-style reading-comprehension files (CMRC 2018, DRCD, XQuAD) as articles of paragraphs.

The reader is trained on them (``rag.training.pairs``), and ``rag eval --squad`` indexes their paragraphs
as documents and asks their questions. Files are split by article, never by question, so a question
held out for measuring never shares its text with a question trained on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import BadQueryError


@dataclass(frozen=True)
class QA:
    qid: str
    question: str
    answer: str
    answer_start: int  # offset of the first answer in the paragraph's context


@dataclass(frozen=True)
class Paragraph:
    pid: str
    context: str
    qas: tuple[QA, ...]


@dataclass(frozen=True)
class Article:
    aid: str
    title: str
    paragraphs: tuple[Paragraph, ...]


def load_squad(path: Path) -> list[Article]:
    """Articles of a SQuAD-style JSON file; answers whose offset does not match their text are dropped."""
    try:
        raw = json.loads(path.read_text("utf-8"))
        return [_article(n, a) for n, a in enumerate(raw["data"])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadQueryError(f"{path}: not a SQuAD-style JSON file ({exc})") from exc


def _article(n: int, raw: dict[str, Any]) -> Article:
    paragraphs = []
    for p, para in enumerate(raw["paragraphs"]):
        context = para["context"]
        qas = tuple(qa for q in para.get("qas", []) if (qa := _qa(q, context)) is not None)
        paragraphs.append(Paragraph(str(para.get("id", f"{n}-{p}")), context, qas))
    return Article(str(raw.get("id", n)), str(raw.get("title", "")).replace("_", " "), tuple(paragraphs))


def _qa(raw: dict[str, Any], context: str) -> QA | None:
    for answer in raw.get("answers", []):
        text, start = str(answer["text"]), int(answer["answer_start"])
        if text and context[start : start + len(text)] == text:
            return QA(str(raw["id"]), str(raw["question"]).strip(), text, start)
    return None


def split_articles(articles: list[Article], dev_share: float) -> tuple[list[Article], list[Article]]:
    """The last ``dev_share`` of the articles held out, the rest for training (a fixed, ordered cut)."""
    cut = len(articles) - max(1, round(len(articles) * dev_share)) if dev_share > 0 else len(articles)
    return articles[:cut], articles[cut:]


def question_count(articles: list[Article]) -> int:
    return sum(len(p.qas) for a in articles for p in a.paragraphs)
