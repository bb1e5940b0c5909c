from __future__ import annotations

from rag.text.tokenize import tokenize


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
    # "罗福莉是谁" quoted "谁也说服不了谁" for its 谁, as "who" would be were it no stopword.
    asked = "罗福莉是谁？誰是創始人？DeepSeek何时发布R1？这是啥"
    assert tokenize(asked) == ["罗福莉", "創始", "人", "deepseek", "发布", "r1"]
