"""`rag eval --squad`: paragraphs indexed as documents, questions asked through the pipeline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from embedders import CEDICT_SAMPLE, BigramReader, HashEmbedder

from rag.config import Settings
from rag.coverage import default_model
from rag.evaluation.squad import (
    Asked,
    SquadOutcome,
    answer_span,
    evaluate_squad,
    every_fourth_paragraph,
    questions_of,
    score,
    squad_index,
    summarize_squad,
    write_documents,
)
from rag.indexing import build_index
from rag.pipeline import Pipeline
from rag.rankers.reader import ReaderRanker
from rag.stores.local import LocalBackend
from rag.training.squad import QA, Article, Paragraph
from rag.types import Answer, Citation, Document, Evidence

PANDAS = "Giant pandas live in the mountains of Sichuan. They eat bamboo for most of the day."
TEA = "龙井茶产于杭州西湖。它是绿茶的一种。"


def _articles() -> list[Article]:
    return [
        Article(
            "0",
            "Pandas",
            (Paragraph("0-0", PANDAS, (QA("p", "What do giant pandas eat?", "bamboo", PANDAS.index("bamboo")),)),),
        ),
        Article(
            "1", "龙井", (Paragraph("1-0", TEA, (QA("t", "龙井茶产于哪里？", "杭州西湖", TEA.index("杭州西湖")),)),)
        ),
    ]


def _opener(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def open_pipeline(documents: Path, index: Path) -> Pipeline:
        settings = Settings(seeds_dir=documents, index_dir=index, embedding_model="test/hash", chunk_size=100)
        backend = LocalBackend(index)
        build_index(settings, HashEmbedder(), backend, [documents], cedict=CEDICT_SAMPLE)
        store = backend.open()
        ranker = ReaderRanker(BigramReader(threshold=0.2), store.documents, settings.reader_candidates)
        return Pipeline(settings, HashEmbedder(), store, coverage=default_model(), ranker=ranker)

    return open_pipeline


def test_every_paragraph_becomes_a_titled_document(tmp_path: Path) -> None:
    kept = write_documents(_articles(), tmp_path, split=False)
    assert [indexed for _, indexed in kept] == [True, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a0000-p000.md", "a0001-p000.md"]
    assert "title: Pandas" in (tmp_path / "a0000-p000.md").read_text("utf-8")


def test_split_leaves_every_other_article_out(tmp_path: Path) -> None:
    kept = write_documents(_articles(), tmp_path, split=True)
    assert [indexed for _, indexed in kept] == [True, False]
    assert [p.name for p in tmp_path.iterdir()] == ["a0000-p000.md"]
    assert [(q.question, q.indexed) for q in questions_of(kept, None)] == [
        ("What do giant pandas eat?", True),
        ("龙井茶产于哪里？", False),
    ]


def test_questions_can_come_from_another_language(tmp_path: Path) -> None:
    kept = write_documents(_articles(), tmp_path, split=False)
    asked = questions_of(kept, {"t": "Where is Longjing tea grown?"})
    assert [q.question for q in asked] == ["Where is Longjing tea grown?"]


def test_the_answer_is_located_in_the_clean_text(monkeypatch: pytest.MonkeyPatch) -> None:
    figures = evaluate_squad(_articles(), None, False, _opener(monkeypatch))
    assert figures["questions"] == 2 and figures["not_indexed_questions"] == 0
    assert figures["hit@5"] == 1.0  # two documents: every passage is in the first five
    assert figures["evidence_holds_answer"] is not None
    # Each question's outcome, for reading the failures: what was asked, expected, graded and shown.
    rows = {row["id"]: row for row in figures["per_question"]}
    asked = {k: row["question"] for k, row in rows.items()}
    assert asked == {"p": "What do giant pandas eat?", "t": "龙井茶产于哪里？"}
    assert rows["t"]["expected"] == "杭州西湖" and rows["t"]["indexed"]
    assert all(row["grade"] in ("answered", "uncertain", "not_covered") for row in rows.values())
    supported = [row["evidence_holds_answer"] for row in rows.values()]
    assert sum(supported) / len(supported) == figures["evidence_holds_answer"]
    # The confidence of each answer, and how far it reads as the probability that the documents answer.
    assert all(0.0 <= row["confidence"] <= 1.0 for row in rows.values())
    brier = sum((row["confidence"] - 1.0) ** 2 for row in rows.values()) / 2  # both articles are indexed
    assert figures["confidence_brier"] == pytest.approx(brier, abs=1e-4)
    assert sum(n for n, _ in figures["confidence_bands"].values()) == 2


def test_not_indexed_questions_are_counted_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    figures = evaluate_squad(_articles(), None, True, _opener(monkeypatch))
    assert (figures["questions"], figures["not_indexed_questions"]) == (1, 1)
    assert sorted(row["indexed"] for row in figures["per_question"]) == [False, True]
    assert figures["not_indexed_declined"] in (0.0, 1.0)


def test_answer_span_falls_back_to_the_answer_text() -> None:
    from rag.evaluation.squad import Asked
    from rag.types import Document

    doc = Document("d", "f.md", "t", None, None, None, "zh", "前言。\n" + TEA)
    asked = Asked("q", "杭州西湖", "f.md", TEA.index("杭州西湖"), True)
    start, end = answer_span(asked, doc, TEA) or (0, 0)
    assert doc.text[start:end] == "杭州西湖"
    moved = dataclasses.replace(asked, start=0)
    start, end = answer_span(moved, doc, "not in the text") or (0, 0)
    assert doc.text[start:end] == "杭州西湖"


def test_a_paragraph_left_out_of_an_indexed_article_asks_a_near_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    pandas, tea = _articles()
    two = dataclasses.replace(pandas, paragraphs=(*pandas.paragraphs, *tea.paragraphs))  # one article, two paragraphs

    with squad_index([two], False, _opener(monkeypatch), lambda article, paragraph: paragraph == 1) as indexed:
        assert indexed.left_out == {"a0000-p001.md"}
        assert sorted(indexed.by_file) == ["a0000-p000.md"]
        asked = indexed.questions(None)
        assert [(q.question, q.indexed) for q in asked] == [
            ("What do giant pandas eat?", True),
            ("龙井茶产于哪里？", False),
        ]
        document, (start, end) = indexed.gold(asked[0]) or (None, (0, 0))
        assert document is not None and document.text[start:end] == "bamboo"
        assert indexed.gold(asked[1]) is None
        assert [indexed.kind(q) for q in asked] == ["answerable", "near"]


def test_near_misses_are_every_fourth_paragraph() -> None:
    assert [p for p in range(9) if every_fourth_paragraph(0, p)] == [3, 7]


def test_uncertain_answers_count_as_declined_and_are_reported_apart() -> None:
    def outcome(indexed: bool, declined: bool, supported: bool, uncertain: bool = False) -> SquadOutcome:
        return SquadOutcome(indexed, declined, True, supported, 0.0, 0.0, uncertain)

    figures = summarize_squad(
        [
            outcome(True, False, True),
            outcome(True, False, False),
            outcome(True, True, False, uncertain=True),
            outcome(True, True, False),
            outcome(False, True, False, uncertain=True),
            outcome(False, False, False),
        ]
    )
    assert figures["answerable_declined"] == 0.5 and figures["answerable_uncertain"] == 0.25
    assert figures["evidence_holds_answer"] == 0.25
    assert figures["evidence_holds_answer_when_answered"] == 0.5
    assert figures["not_indexed_declined"] == 0.5 and figures["not_indexed_uncertain"] == 0.5


def test_the_first_quoted_sentence_is_scored_apart() -> None:
    document = Document("p", "a0000-p000.md", "Pandas", None, None, None, "en", PANDAS)
    asked = Asked("What do giant pandas eat?", "bamboo", document.source_file, PANDAS.index("bamboo"), True)
    second = PANDAS.index("They")
    sentences = {"other": (0, second - 1), "gold": (second, len(PANDAS))}

    def answer(*order: str) -> Answer:
        evidence = tuple(
            Evidence(PANDAS[a:b], 0.9, Citation("p", document.source_file, "Pandas", None, None, "x", a, b))
            for a, b in (sentences[name] for name in order)
        )
        return Answer("q", True, "", evidence, ())

    span = (PANDAS.index("bamboo"), PANDAS.index("bamboo") + len("bamboo"))
    later = score(asked, answer("other", "gold"), document, span)
    first = score(asked, answer("gold", "other"), document, span)
    assert later.supported and not later.first
    assert first.supported and first.first
    assert summarize_squad([later, first])["first_evidence_holds_answer"] == 0.5


def test_whole_articles_are_one_document_each(tmp_path: Path) -> None:
    pandas, tea = _articles()
    two = dataclasses.replace(pandas, paragraphs=(*pandas.paragraphs, *tea.paragraphs))
    kept = write_documents([two, tea], tmp_path, split=False, whole=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a0000.md", "a0001.md"]
    text = (tmp_path / "a0000.md").read_text("utf-8")
    assert "title: Pandas" in text and text.index(PANDAS) < text.index(TEA)
    asked = questions_of(kept, None, whole=True)
    assert [(q.file, q.paragraph) for q in asked] == [
        ("a0000.md", "a0000-p000.md"),
        ("a0000.md", "a0000-p001.md"),
        ("a0001.md", "a0001-p000.md"),
    ]


def test_a_whole_article_locates_answers_in_its_later_paragraphs(monkeypatch: pytest.MonkeyPatch) -> None:
    pandas, tea = _articles()
    three = dataclasses.replace(pandas, paragraphs=(*pandas.paragraphs, *tea.paragraphs, *tea.paragraphs))
    with squad_index([three], False, _opener(monkeypatch), lambda a, p: p == 2, whole=True) as indexed:
        assert sorted(indexed.by_file) == ["a0000.md"]
        assert indexed.left_out == {"a0000-p002.md"}
        document = indexed.by_file["a0000.md"]
        assert document.text.count(TEA) == 1  # the left-out paragraph is not in the article's text
        asked = indexed.questions(None)
        assert [indexed.kind(q) for q in asked] == ["answerable", "answerable", "near"]
        _, (start, end) = indexed.gold(asked[1]) or (None, (0, 0))
        assert document.text[start:end] == "杭州西湖" and start > document.text.index(PANDAS)


def test_answer_span_keeps_the_occurrence_nearest_its_offset() -> None:
    context = "西湖  在杭州。杭州西湖产龙井。"  # cleaning squashes the double space: the offset moves by one
    doc = Document("d", "f.md", "t", None, None, None, "zh", "西湖 在杭州。杭州西湖产龙井。")
    asked = Asked("q", "西湖", "f.md", context.rindex("西湖"), True)
    start, end = answer_span(asked, doc, context) or (0, 0)
    assert (start, end) == (doc.text.rindex("西湖"), doc.text.rindex("西湖") + 2)
