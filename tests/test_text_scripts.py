"""Which characters count as Chinese, and traditional characters in simplified script (rag.text.scripts)."""

from __future__ import annotations

from rag.text.scripts import HAN, HAN_RUN, simplified, written_in_latin, written_in_simplified


def test_han_takes_every_block_of_ideographs() -> None:
    assert HAN.findall("DeepSeek 深度\u3400\U00020000\uf900") == ["深", "度", "\u3400", "\U00020000", "\uf900"]


def test_han_runs_keep_to_the_unified_block() -> None:
    assert HAN_RUN.findall("深度\u3400求索 AI 模型") == ["深度", "求索", "模型"]


def test_traditional_characters_are_read_in_simplified_script_one_for_one() -> None:
    assert simplified("DeepSeek的創始人是誰？輝達股價") == "DeepSeek的创始人是谁？辉达股价"
    assert simplified("蒸餾技術，後來") == "蒸馏技术，后来"
    # A character that is also a simplified form stays: 乾 in 乾隆, 著 in 著名; simplified text is left as it is.
    assert simplified("乾隆著名") == "乾隆著名"
    assert simplified("梁文峰的公司靠技术创新") == "梁文峰的公司靠技术创新"


def test_a_text_is_written_in_simplified_script_when_more_of_its_characters_are_simplified_forms() -> None:
    assert written_in_simplified(set("中国的人工智能现在还落后美国吗"))
    assert not written_in_simplified(set("中國的人工智能現在還落後美國嗎"))
    assert not written_in_simplified(set("人工智能"))  # the same in both scripts: nothing to read otherwise
    assert not written_in_simplified(set())


def test_a_corpus_is_in_latin_script_when_fewer_than_half_its_terms_hold_han() -> None:
    assert written_in_latin({"founder", "stock", "price", "英伟达"})
    assert not written_in_latin({"deepseek", "gpu", "创始人", "股价"})  # half: the seeds' kind of mixture
    assert not written_in_latin(set())
