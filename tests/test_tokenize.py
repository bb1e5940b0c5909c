from __future__ import annotations

from pathlib import Path

from rag.text.tokenize import KeywordIndex, tokenize


def test_chinese_is_segmented_into_words() -> None:
    tokens = tokenize("美国的股价大幅下跌")
    assert "美国" in tokens and "股价" in tokens and "下跌" in tokens and "的" not in tokens


def test_latin_words_are_lower_cased_and_function_words_dropped() -> None:
    assert tokenize("What did DeepSeek V3 cost?") == ["deepseek", "v3", "cost"]


def test_full_width_forms_are_folded_for_matching() -> None:
    assert tokenize("ＤｅｅｐＳｅｅｋ") == ["deepseek"]


def test_a_name_glued_to_its_version_is_also_the_name() -> None:
    assert tokenize("Grok3") == ["grok3", "grok", "3"]
    assert tokenize("v3") == ["v3"]  # too short to be a name on its own


def test_chinese_question_words_are_not_terms() -> None:
    assert tokenize("梁文峰毕业于哪所大学？哪一年？多长？有没有？") == ["梁", "文峰", "毕业", "于", "大学", "一年"]


def test_bm25_ranks_the_passage_with_the_rare_word_first(tmp_path: Path) -> None:
    texts = ["英伟达的股价大幅下跌", "DeepSeek 发布了 V3 模型", "训练成本只有 600 万美元"]
    index = KeywordIndex.build(texts)
    assert index.search(tokenize("英伟达 股价"), 3)[0][0] == 0
    index.save(tmp_path / "bm25")
    again = KeywordIndex.load(tmp_path / "bm25", len(texts))
    assert again.search(tokenize("训练成本"), 3)[0][0] == 2


def test_unknown_words_score_nothing() -> None:
    index = KeywordIndex.build(["英伟达", "苹果"])
    assert index.search(tokenize("zebra"), 2) == []
