from __future__ import annotations

from rag.training.codeswitch import first_glosses, glossed


def test_a_chinese_question_is_glossed_word_by_word_in_its_own_order() -> None:
    assert glossed("DeepSeek的创始人是谁？") == "DeepSeek creator is who?"
    assert glossed("英伟达股价为什么下跌？") == "英 伟达 stock price why fall?"  # jieba's 英|伟达: a name stays Chinese


def test_question_words_read_as_an_english_question_asks() -> None:
    assert glossed("广茂铁路由哪家公司管理运营？") == "广茂 railroad by which company supervise do business?"
    assert glossed("大莱龙铁路一共投资多少亿元？").endswith("investment how many 亿元?")


def test_a_common_nouns_sense_comes_before_a_proper_nouns() -> None:
    assert first_glosses()["大学"] == "university"  # not the classic "Great Learning"
    assert glossed("楼曾瑞毕业于哪个大学？") == "楼 曾瑞 graduation in which university?"


def test_traditional_characters_are_glossed_as_simplified_ones() -> None:
    assert glossed("DeepSeek的創始人是誰？") == glossed("DeepSeek的创始人是谁？")
