"""rag/text/analyses.py: a text's tokens and sound table, the previous build's where it read the same text;
only the last build's texts kept; a file the code cannot use read as none."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.text import analyses as module
from rag.text.analyses import Analyses, analyses_path
from rag.text.crosslingual import sound_table
from rag.text.tokenize import tokenize

TEXTS = ["梁文峰创立了DeepSeek。", "Giant pandas eat bamboo.", "熊猫吃竹子，也吃苹果。", "。。。", ""]


def forbid_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def read(text: str) -> None:
        raise AssertionError(f"read anew: {text!r}")

    monkeypatch.setattr(module, "tokenize", read)
    monkeypatch.setattr(module, "sound_table", read)


def test_they_are_what_the_tokeniser_and_the_reader_give() -> None:
    analyses = Analyses()
    for text in TEXTS * 2:  # the second time from what this build read
        assert analyses.tokens(text) == tokenize(text)
        assert analyses.sounds(text) == sound_table(text)


def test_a_saved_build_s_texts_are_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Analyses()
    expected = [(first.tokens(t), first.sounds(t)) for t in TEXTS]
    first.save(tmp_path)
    forbid_reading(monkeypatch)
    again = Analyses.load(tmp_path)
    assert [(again.tokens(t), again.sounds(t)) for t in TEXTS] == expected


def test_only_the_last_build_s_texts_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Analyses()
    for text in TEXTS[:2]:
        first.tokens(text)
    first.save(tmp_path)
    second = Analyses.load(tmp_path)
    second.tokens(TEXTS[1])  # from the first build
    second.tokens(TEXTS[2])  # new
    second.save(tmp_path)
    third = Analyses.load(tmp_path)
    expected = [tokenize(t) for t in TEXTS[1:3]]
    forbid_reading(monkeypatch)
    assert [third.tokens(t) for t in TEXTS[1:3]] == expected
    with pytest.raises(AssertionError, match="read anew"):
        third.tokens(TEXTS[0])  # the first build's only: dropped


def test_a_damaged_file_or_another_code_s_is_read_as_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saved = Analyses()
    saved.tokens(TEXTS[0])
    saved.save(tmp_path)
    path = analyses_path(tmp_path)
    with monkeypatch.context() as patched:
        patched.setattr(module, "ANALYSIS_CODE", module.ANALYSIS_CODE[1:])  # as if the tokeniser had changed
        assert analyses_path(tmp_path) != path
        assert Analyses.load(tmp_path).tokens(TEXTS[0]) == tokenize(TEXTS[0])
        Analyses().save(tmp_path)
        assert not path.exists()  # the other code's file is removed: never read again
    path.write_bytes(b"damaged")
    loaded = Analyses.load(tmp_path)
    assert loaded.tokens(TEXTS[0]) == tokenize(TEXTS[0])


def test_a_token_holding_the_separator_is_given_but_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "tokenize", lambda text: ["a\nb", "c"])
    analyses = Analyses()
    assert analyses.tokens("x") == ["a\nb", "c"]
    analyses.save(tmp_path)
    forbid_reading(monkeypatch)
    with pytest.raises(AssertionError, match="read anew"):
        Analyses.load(tmp_path).tokens("x")


def test_a_folder_that_cannot_be_written_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    Analyses().save(blocked / "index")
    assert "could not cache the texts' tokens" in caplog.text
