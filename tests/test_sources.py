"""What each source says: grouping, quotes in reading order, context, and the answer after a heading-question."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Sequence

import pytest

from rag import sources
from rag.extraction import ScoredSentence
from rag.ingest.chunking import chunk_document
from rag.sources import MAX_QUOTES, Pick, group, neighbours
from rag.types import Document

SHOW_NOTES = Document(
    doc_id="notes",
    source_file="notes.txt",
    title="Vol.51 谣言与误解",
    author=None,
    published="2025-02-07",
    url="https://example.com/vol51",
    language="zh",
    text=(
        "本期聊聊 DeepSeek。\n"
        "DeepSeek蒸馏ChatGPT的谣言是如何产生的？\n"
        "蒸馏是行业内公开的做法，说它偷窃并不成立。\n"
        "DeepSeek 的成本真的只有 600 万美元吗？\n"
        "600 万美元只是最后一次训练的算力成本。"
    ),
)
ARTICLE = Document(
    doc_id="article",
    source_file="article.txt",
    title="白宫顾问的指控",
    author=None,
    published="2025-02-08",
    url=None,
    language="zh",
    text=(
        "美国白宫顾问公开表示，有实质性证据证明 DeepSeek 蒸馏了 OpenAI 模型。"
        "他把这种蒸馏行为比作偷窃。"
        "这样的指控，太欺负人了。"
        "那么，你相信 DeepSeek 蒸馏了 ChatGPT 的模型吗?"
    ),
)
DOCUMENTS = {d.doc_id: d for d in (SHOW_NOTES, ARTICLE)}


def _sentences(document: Document) -> list[ScoredSentence]:
    """Every sentence of the document, scored 0 for now, with a row number unique across documents."""
    out = []
    for chunk in chunk_document(document, 1000, 0):
        for sentence in chunk.sentences:
            out.append(ScoredSentence(hash((document.doc_id, sentence.start)), chunk, sentence, 0.0, 0.0, 0.0))
    return out


ALL = _sentences(SHOW_NOTES) + _sentences(ARTICLE)


def _picks(scores: dict[str, float]) -> list[Pick]:
    """Picks for the sentences that start with each key, best first."""
    picks = [Pick(s, scores[k]) for s in ALL for k in scores if s.sentence.text.startswith(k)]
    return sorted(picks, key=lambda p: -p.score)


def _texts(quotes: Sequence[object]) -> list[str]:
    return [q.evidence.text for q in quotes]  # type: ignore[attr-defined]


def test_one_source_per_document_most_relevant_first() -> None:
    sources = group(_picks({"美国白宫顾问": 0.9, "蒸馏是行业内": 0.8, "他把这种": 0.7}), ALL, DOCUMENTS, 0.0, 5)
    assert [s.document.doc_id for s in sources] == ["article", "notes"]
    assert _texts(sources[0].quotes) == [
        "美国白宫顾问公开表示，有实质性证据证明 DeepSeek 蒸馏了 OpenAI 模型。",
        "他把这种蒸馏行为比作偷窃。",
    ]
    assert sources[0].score == 0.9


def test_a_pick_below_the_floor_and_sources_beyond_the_limit_are_left_out() -> None:
    picks = _picks({"美国白宫顾问": 0.9, "蒸馏是行业内": 0.5})
    assert [s.document.doc_id for s in group(picks, ALL, DOCUMENTS, 0.6, 5)] == ["article"]
    assert [s.document.doc_id for s in group(picks, ALL, DOCUMENTS, 0.0, 1)] == ["article"]


def test_at_most_three_quotes_per_source_in_reading_order() -> None:
    scores = {"这样的指控": 0.9, "他把这种": 0.8, "美国白宫顾问": 0.7, "本期聊聊": 0.1}
    picks = _picks(scores) + _picks({"那么": 0.6})
    (article, _) = group(picks, ALL, DOCUMENTS, 0.0, 5)
    assert len(article.quotes) == MAX_QUOTES
    starts = [q.evidence.citation.start for q in article.quotes]
    assert starts == sorted(starts)


def test_each_quote_has_the_sentences_around_it_verbatim() -> None:
    (notes,) = group(_picks({"蒸馏是行业内": 0.9}), ALL, DOCUMENTS, 0.0, 5)
    (quote,) = notes.quotes
    assert quote.before and quote.after
    assert quote.before.text == "DeepSeek蒸馏ChatGPT的谣言是如何产生的？"
    assert quote.after.text == "DeepSeek 的成本真的只有 600 万美元吗？"
    for context in (quote.before, quote.after):
        assert SHOW_NOTES.text[context.start : context.end] == context.text


def test_the_first_and_last_sentences_have_no_neighbour_outside_the_document() -> None:
    first, last = ARTICLE.text.index("美国"), len(ARTICLE.text)
    before, _ = neighbours(ARTICLE, first, ARTICLE.text.index("他把"))
    _, after = neighbours(ARTICLE, ARTICLE.text.index("那么"), last)
    assert before is None and after is None


def test_neighbours_are_kept_only_as_long_as_their_document() -> None:
    replaced = dataclasses.replace(ARTICLE, doc_id="replaced")
    start = replaced.text.index("那么")
    found = neighbours(replaced, start, len(replaced.text))
    assert neighbours(replaced, start, len(replaced.text)) is found  # worked out once
    held = len(sources._NEIGHBOURS)
    del replaced
    gc.collect()
    assert len(sources._NEIGHBOURS) == held - 1  # an index reopened lets its old documents go


def test_a_context_sentence_that_is_also_quoted_is_not_repeated() -> None:
    (article,) = group(_picks({"美国白宫顾问": 0.9, "他把这种": 0.8}), ALL, DOCUMENTS, 0.0, 5)
    first, second = article.quotes
    assert first.after is None and second.before is None
    assert first.before is None and second.after is not None


def test_a_heading_question_is_quoted_with_the_sentence_that_answers_it() -> None:
    (notes,) = group(_picks({"DeepSeek蒸馏ChatGPT的谣言": 0.9}), ALL, DOCUMENTS, 0.0, 5)
    heading, answer = notes.quotes
    assert heading.evidence.text == "DeepSeek蒸馏ChatGPT的谣言是如何产生的？" and not heading.answers_heading
    assert answer.evidence.text == "蒸馏是行业内公开的做法，说它偷窃并不成立。" and answer.answers_heading
    assert heading.after is None and answer.before is None  # each is the other's context
    assert SHOW_NOTES.text[answer.evidence.citation.start : answer.evidence.citation.end] == answer.evidence.text


def test_a_question_with_nothing_after_it_is_not_quoted_alone() -> None:
    sources = group(_picks({"那么": 0.9, "他把这种": 0.5}), ALL, DOCUMENTS, 0.0, 5)
    assert [_texts(s.quotes) for s in sources] == [["他把这种蒸馏行为比作偷窃。"]]


def test_with_a_reader_the_sentence_after_a_heading_is_quoted_only_when_it_answers() -> None:
    def picks(answer_probability: float) -> list[Pick]:
        return _picks({"DeepSeek 的成本": 0.9, "本期聊聊": 0.8, "600 万美元只是": answer_probability})

    (notes,) = group(picks(0.7), ALL, DOCUMENTS, 0.5, 5, judged=True)
    assert _texts(notes.quotes) == [
        "本期聊聊 DeepSeek。",
        "DeepSeek 的成本真的只有 600 万美元吗？",
        "600 万美元只是最后一次训练的算力成本。",
    ]
    assert [q.answers_heading for q in notes.quotes] == [False, False, True]
    (notes,) = group(picks(0.2), ALL, DOCUMENTS, 0.5, 5, judged=True)
    assert _texts(notes.quotes) == ["本期聊聊 DeepSeek。"]
    # A sentence the reader did not read is not taken to answer.
    (notes,) = group(_picks({"DeepSeek 的成本": 0.9, "本期聊聊": 0.8}), ALL, DOCUMENTS, 0.5, 5, judged=True)
    assert _texts(notes.quotes) == ["本期聊聊 DeepSeek。"]


@pytest.mark.parametrize("top", [0.0, 0.5])
def test_no_picks_no_sources(top: float) -> None:
    assert group([], ALL, DOCUMENTS, top, 5) == ()
