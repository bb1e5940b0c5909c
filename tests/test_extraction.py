from __future__ import annotations

import numpy as np
import pytest

from rag.extraction import (
    ANSWER_TYPE_BONUS,
    ASIDE_PENALTY,
    QUESTION_PENALTY,
    ScoredSentence,
    holds,
    is_aside,
    is_question,
    keyword_overlap,
    near_duplicate,
    score_sentences,
    select_evidence,
    to_evidence,
)
from rag.query import expected_answer
from rag.text.lexicon import inverse_document_frequency
from rag.types import Chunk, Document, Sentence


def _scored(doc_id: str, text: str, score: float) -> ScoredSentence:
    sentence = Sentence(0, len(text), text)
    chunk = Chunk(f"{doc_id}#0", doc_id, 0, 0, len(text), text, (sentence,))
    return ScoredSentence(0, chunk, sentence, score, 0.0, score)


def test_overlap_weighs_rare_words_more() -> None:
    idf = inverse_document_frequency([["deepseek", "成本"], ["deepseek"], ["deepseek", "英伟达"]])
    query = [["deepseek"], ["成本"]]
    assert keyword_overlap(query, ["成本"], idf) > keyword_overlap(query, ["deepseek"], idf)
    assert keyword_overlap([], ["x"], idf) == 0.0
    assert keyword_overlap([["成本"]], ["成本"], idf) == pytest.approx(1.0)


def test_a_word_counts_when_any_of_its_translations_is_present() -> None:
    idf = inverse_document_frequency([["成本"], ["英伟达"]])
    assert keyword_overlap([["cost", "成本", "费用"]], ["成本"], idf) == pytest.approx(1.0)


def test_a_word_the_corpus_lacks_weighs_as_the_rarest_word() -> None:
    idf = inverse_document_frequency([["成本"], ["成本"], ["英伟达"]])
    assert keyword_overlap([["成本"], ["headquarters"]], ["成本"], idf) < 0.5


def test_sentences_are_ranked_by_similarity_plus_overlap() -> None:
    vectors = np.eye(3, dtype=np.float32)
    sentences = [Sentence(0, 1, "a"), Sentence(2, 3, "b"), Sentence(4, 5, "c")]
    chunk = Chunk("d#0", "d", 0, 0, 5, "a b c", tuple(sentences))
    candidates = [(i, chunk, s, 1.0) for i, s in enumerate(sentences)]
    tokens = [["x"], ["y"], ["z"]]
    idf = inverse_document_frequency(tokens)
    similarities = vectors @ np.array([0.6, 0.5, 0.0], np.float32)
    ranked = score_sentences([["y"]], candidates, similarities, tokens, idf)
    assert [s.sentence.text for s in ranked] == ["b", "a", "c"]  # 0.5 + overlap beats 0.6


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When did DeepSeek V3 come out?", "date"),
        ("Who came up with model distillation, and when?", "date"),
        ("On what date did xAI unveil Grok 3?", "date"),
        ("DeepSeek 是哪天登上美国 App Store 免费榜第一的？", "date"),
        ("Grok 3 是什么时候发布的？", "date"),
        ("How many experts does DeepSeek's model switch on?", "number"),
        ("How far did Nvidia's stock fall?", "number"),
        ("英伟达过去十年市值涨了多少倍？", "number"),
        ("DeepSeek V3 的 context window 有多长？", "number"),
        # Question forms only: a topic word or a clause asks for nothing.
        ("How does a mixture-of-experts model keep costs down?", None),
        ("What did DeepSeek answer when asked about Taiwan?", None),
        ("Who founded DeepSeek?", None),
        ("DeepSeek 的训练成本", None),
    ],
)
def test_the_answer_type_comes_from_the_question_form(question: str, kind: str | None) -> None:
    assert expected_answer(question) == kind


def test_dates_and_numbers_are_found_in_either_script() -> None:
    assert holds("date", "2025年1月20日，DeepSeek 发布了 R1。")
    assert holds("date", "xAI unveiled Grok 3 on Feb 18, 2025.")
    assert not holds("date", "DeepSeek 发布了 R1。")
    assert holds("number", "每 256 个专家中仅激活 8 个。")
    assert holds("number", "英伟达股票当天暴跌十七%。") and holds("number", "耗资五千亿美元")
    assert not holds("number", "DeepSeek 的混合专家模型降低了成本。")


def _rank(texts: list[str], similarities: list[float], expected: str | None = None) -> list[ScoredSentence]:
    """``texts`` as the sentences of one passage, every one holding the query's one word."""
    sentences, start = [], 0
    for text in texts:
        sentences.append(Sentence(start, start + len(text), text))
        start += len(text) + 1
    chunk = Chunk("d#0", "d", 0, 0, start - 1, " ".join(texts), tuple(sentences))
    tokens = [["专家"]] * len(texts)
    candidates = [(i, chunk, s, 1.0) for i, s in enumerate(sentences)]
    sims = np.array(similarities, np.float32)
    return score_sentences([["专家"]], candidates, sims, tokens, inverse_document_frequency(tokens), expected)


def test_a_sentence_that_holds_the_asked_for_type_is_preferred() -> None:
    texts = ["混合专家模型降低了成本。", "每 256 个专家中仅激活 8 个。"]
    similarities = [0.86, 0.86 - ANSWER_TYPE_BONUS / 2]
    plain, typed = _rank(texts, similarities), _rank(texts, similarities, expected="number")
    assert plain[0].sentence.text == texts[0]
    assert typed[0].sentence.text == texts[1]
    assert typed[0].score == pytest.approx(plain[1].score + ANSWER_TYPE_BONUS)


def test_a_sentence_that_asks_is_not_preferred_as_an_answer() -> None:
    assert is_question("DeepSeek有五万块H100芯片？") and is_question("Is it cheap?") and is_question("他问：“真的吗？”")
    assert not is_question("DeepSeek 没有五万块 H100。") and not is_question("为什么？因为成本低。")
    heading, answer = "01:40:32 专家们免费开源，那他们如何盈利？", "开源的专家模型,至少有三种赚钱的办法。"
    _assert_penalised([heading, answer], QUESTION_PENALTY)


def _assert_penalised(texts: list[str], penalty: float) -> None:
    """The first sentence, a little more like the question, ranks second for ``penalty``, taken from it alone."""
    ranked = _rank(texts, [0.90, 0.90 - penalty / 2])
    assert [s.sentence.text for s in ranked] == texts[::-1]
    penalties = [s.similarity - s.score for s in ranked]
    assert penalties[1] == pytest.approx(penalties[0] + penalty)


def test_a_sentence_wholly_in_brackets_is_an_aside_not_an_answer() -> None:
    assert is_aside("（ 正版看这里《特朗普的“AI沙皇”David Sacks谈DeepSeek》 ）") and is_aside("【时间线】")
    assert is_aside("(see the interview (2025) above).") and is_aside("[链接]")
    assert not is_aside("（一）背景（续）") and not is_aside("(a) one, (b) two") and not is_aside("正文（注）")
    assert not is_aside("（未闭合") and not is_aside("")
    _assert_penalised(["（ 正版看这里《专家谈DeepSeek》 ）", "专家在谈到DeepSeek时说：这是警钟。"], ASIDE_PENALTY)


def test_evidence_shows_the_best_sentence_of_each_source() -> None:
    scored = [
        _scored("a", "DeepSeek 的训练成本是 600 万美元。", 0.90),
        _scored("a", "这个数字只包括最后一次训练。", 0.89),
        _scored("b", "有人认为真实成本远高于此。", 0.87),
        _scored("c", "今天天气很好。", 0.70),
    ]
    chosen = select_evidence(scored, top_k=5)
    docs = [s.chunk.doc_id for s in chosen]
    assert docs[0] == "a" and "b" in docs and "c" not in docs


def test_evidence_is_capped_at_top_k_sources() -> None:
    texts = ["成本很低。", "英伟达下跌。", "蒸馏是谣言。", "出口管制有效。", "开源是优势。", "算力不是全部。"]
    scored = [_scored(d, t, 0.9 - i * 0.001) for i, (d, t) in enumerate(zip("abcdef", texts, strict=True))]
    assert len({s.chunk.doc_id for s in select_evidence(scored, top_k=3)}) == 3


def test_a_near_duplicate_sentence_appears_once() -> None:
    scored = [
        _scored("a", "训练深度搜索的 V3 模型仅花费了 600 万美元。", 0.9),
        _scored("b", "训练深度搜索的V3模型仅花费了600万美元", 0.89),
        _scored("c", "英伟达的股价大幅下跌。", 0.88),
    ]
    texts = [s.sentence.text for s in select_evidence(scored, top_k=5)]
    assert len(texts) == 2 and "英伟达的股价大幅下跌。" in texts


def test_near_duplicate_ignores_spacing_and_punctuation() -> None:
    assert near_duplicate("A, b c!", "a b  c")
    assert not near_duplicate("英伟达的股价大幅下跌", "训练成本只有六百万")


def test_evidence_cites_the_exact_span() -> None:
    doc = Document("d", "d.txt", "T", None, "2025-02-01", "https://x", "zh", "前文。DeepSeek 很便宜。后文。")
    start = doc.text.index("DeepSeek")
    sentence = Sentence(start, start + len("DeepSeek 很便宜。"), "DeepSeek 很便宜。")
    chunk = Chunk("d#0", "d", 0, 0, len(doc.text), doc.text, (sentence,))
    ev = to_evidence(ScoredSentence(0, chunk, sentence, 0.9, 0.1, 0.915), doc)
    assert doc.text[ev.citation.start : ev.citation.end] == ev.text
    assert (ev.citation.url, ev.citation.published, ev.citation.chunk_id) == ("https://x", "2025-02-01", "d#0")
    assert ev.citation.page is None  # a text file has no pages


def test_evidence_from_a_paged_document_cites_its_page() -> None:
    text = "Page one.\n\nPage two starts here. The answer is 42."
    doc = Document("d", "d.pdf", "T", None, None, None, "en", text, page_starts=(0, text.index("Page two")))
    start = text.index("The answer")
    sentence = Sentence(start, len(text), text[start:])
    chunk = Chunk("d#0", "d", 0, 0, len(text), text, (sentence,))
    ev = to_evidence(ScoredSentence(0, chunk, sentence, 0.9, 0.1, 0.915), doc)
    assert ev.citation.page == 2
