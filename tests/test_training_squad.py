"""SQuAD-style files read as articles, with answers checked against their offsets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.errors import BadQueryError
from rag.training.squad import load_squad, question_count, split_articles

CONTEXT = "梁文峰创立了DeepSeek。公司位于杭州。"


def squad_file(path: Path, articles: int = 1, start: int = 0) -> Path:
    data = [
        {
            "title": f"Article_{n}",
            "paragraphs": [
                {
                    "context": CONTEXT,
                    "qas": [
                        {
                            "id": f"q{n}-1",
                            "question": " 谁创立了DeepSeek？ ",
                            "answers": [{"text": "梁文峰", "answer_start": start}],
                        },
                        {"id": f"q{n}-2", "question": "公司在哪里？", "answers": [{"text": "杭州", "answer_start": 3}]},
                    ],
                }
            ],
        }
        for n in range(articles)
    ]
    path.write_text(json.dumps({"version": "1", "data": data}, ensure_ascii=False), "utf-8")
    return path


def test_articles_paragraphs_and_questions_are_read(tmp_path: Path) -> None:
    [article] = load_squad(squad_file(tmp_path / "s.json"))
    assert article.title == "Article 0"
    [para] = article.paragraphs
    assert para.context == CONTEXT
    assert [(qa.qid, qa.question, qa.answer, qa.answer_start) for qa in para.qas] == [
        ("q0-1", "谁创立了DeepSeek？", "梁文峰", 0)
    ]


def test_an_answer_whose_offset_does_not_hold_its_text_is_dropped(tmp_path: Path) -> None:
    assert question_count(load_squad(squad_file(tmp_path / "s.json", start=2))) == 0


@pytest.mark.parametrize("content", ["not json", '{"data": [{"paragraphs": [{"qas": []}]}]}', "[]"])
def test_a_file_that_is_not_squad_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, "utf-8")
    with pytest.raises(BadQueryError, match="not a SQuAD-style JSON file"):
        load_squad(path)


def test_articles_are_split_in_order_never_by_question(tmp_path: Path) -> None:
    articles = load_squad(squad_file(tmp_path / "s.json", articles=10))
    train, dev = split_articles(articles, 0.2)
    assert [a.title for a in dev] == ["Article 8", "Article 9"]
    assert len(train) == 8 and not {a.aid for a in train} & {a.aid for a in dev}
