"""Which characters count as Chinese, and traditional characters in simplified script (rag.text.scripts)."""

from __future__ import annotations

from rag.text.scripts import HAN, HAN_RUN, simplified


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
