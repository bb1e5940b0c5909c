"""rag/text/segmenter.py: jieba's words (a made-up word's particle cut off), from its dictionary loaded a
first character at a time; the split dictionary cached, and split again when the cache is missing, damaged
or another user's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jieba
import pytest

from rag.text import segmenter
from rag.text.segmenter import Segmenter

ROOT = Path(__file__).resolve().parent.parent


def texts() -> list[str]:
    """The seeds' lines and the benchmark's questions, as written and as tokenize() folds them."""
    lines = [line for path in sorted((ROOT / "seeds").glob("*.txt")) for line in path.read_text("utf-8").splitlines()]
    rows = (ROOT / "benchmarks" / "questions.jsonl").read_text("utf-8").splitlines()
    questions = [json.loads(row)["question"] for row in rows]
    written = [t for t in lines + questions if t.strip()]
    return written + [t.lower() for t in written[::7]]


@pytest.fixture(scope="module")
def jiebas_own() -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()  # the whole dictionary
    return tokenizer


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jieba") / "parts"
    Segmenter(path)
    return path


def test_the_words_are_jiebas_own(jiebas_own: jieba.Tokenizer, cache: Path) -> None:
    # One segmenter for all: each text finds the dictionary as the texts before it left it.
    ours = Segmenter(cache)
    unglued = []
    for text in texts():
        if ours.cut(text) != jiebas_own.lcut(text):
            unglued.append(text)
            continue
        assert ours.cut_for_search(text) == jiebas_own.lcut_for_search(text), text
    # The seeds' one name that jieba glues to the particle after it (below).
    assert set(unglued) == {"> 主播庄明浩是一个游走在互联网和风险投资行业的边缘人士。"}


def test_a_made_up_word_ending_in_a_particle_is_two_words(cache: Path) -> None:
    ours = Segmenter(cache)
    text = "主播庄明浩是一个游走在互联网"
    assert ours.cut(text) == ["主播", "庄明浩", "是", "一个", "游走", "在", "互联网"]
    assert "庄明浩" in ours.cut_for_search(text)
    assert "庄明浩是" not in ours.cut_for_search(text)


def test_a_dictionary_word_ending_in_a_particle_stays_whole(cache: Path) -> None:
    assert Segmenter(cache).cut("我们有的是时间") == ["我们", "有的是", "时间"]


def test_a_cached_split_is_read_not_made_again(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def split() -> None:
        raise AssertionError("split again")

    monkeypatch.setattr(segmenter, "split_dictionary", split)
    assert Segmenter(cache).cut("大熊猫吃竹子") == ["大熊猫", "吃", "竹子"]


def test_a_damaged_cache_is_made_again(tmp_path: Path) -> None:
    path = tmp_path / "parts"
    path.write_bytes(b"not marshal")
    assert Segmenter(path).cut("大熊猫吃竹子") == ["大熊猫", "吃", "竹子"]
    assert path.stat().st_size > 1_000_000


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_another_users_cache_is_not_read(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "parts"
    path.write_bytes(cache.read_bytes())
    os.chown(path, 12345, 12345)
    split = segmenter.split_dictionary
    calls = []
    monkeypatch.setattr(segmenter, "split_dictionary", lambda: calls.append(1) or split())
    Segmenter(path)
    assert calls == [1] and path.stat().st_uid == 0
