"""Which characters count as Chinese (rag.text.scripts)."""

from __future__ import annotations

from rag.text.scripts import HAN, HAN_RUN


def test_han_takes_every_block_of_ideographs() -> None:
    assert HAN.findall("DeepSeek 深度\u3400\U00020000\uf900") == ["深", "度", "\u3400", "\U00020000", "\uf900"]


def test_han_runs_keep_to_the_unified_block() -> None:
    assert HAN_RUN.findall("深度\u3400求索 AI 模型") == ["深度", "求索", "模型"]
