"""bench.answers: two runs of every question set compared question by question (no model: reports written here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import answers


def _asked(qid: str, answerable: bool, declined: bool, evidence: bool, sources: str = "1/1") -> dict[str, object]:
    return {
        "id": qid,
        "question": f"question {qid}?",
        "answerable": answerable,
        "predicted_answerable": not declined,
        "grade": "not_covered" if declined else "answered",
        "evidence_hit": evidence,
        "first_evidence_hit": evidence,
        "sources": sources if answerable else "0/0",
        "grouped_sources": sources if answerable else "0/0",
    }


def _indexed(qid: str, indexed: bool, grade: str, holds: bool) -> dict[str, object]:
    return {
        "id": qid,
        "question": f"question {qid}?",
        "indexed": indexed,
        "grade": grade,
        "evidence_holds_answer": holds,
        "first_evidence_holds_answer": holds,
        "hit@5": True,
        "short_answer": "",
    }


def _write_run(folder: Path, seeds: list[dict[str, object]], squad: list[dict[str, object]]) -> Path:
    folder.mkdir(parents=True)
    fused = {"variants": {"fused": {"per_question": seeds}}}
    (folder / "sets.json").write_text(json.dumps({"sets": {"benchmarks/questions.jsonl": fused}}), "utf-8")
    (folder / "xquad-en-zh.json").write_text(json.dumps({"per_question": squad}), "utf-8")
    return folder


def test_the_same_answers_give_the_figures_once_and_no_change(tmp_path: Path) -> None:
    seeds = [_asked("q1", True, False, True, "2/3"), _asked("q2", False, True, False)]
    squad = [_indexed("x1", True, "answered", True), _indexed("x2", False, "uncertain", False)]
    run = _write_run(tmp_path / "a", seeds, squad)
    lines = list(answers.compare(run, run))
    assert lines == [
        "questions: answerable 1, evidence 1, first 1, answerable declined 0, unanswerable 1, unanswerable declined 1, "
        "gold sources quoted 2, gold sources 3",
        "xquad-en-zh: answerable 1, evidence 1, first 1, answerable declined 0, not indexed 1, not indexed declined 1",
    ]


def test_a_changed_answer_is_named_with_the_figures_it_moves(tmp_path: Path) -> None:
    base = _write_run(tmp_path / "a", [_asked("q1", True, False, True)], [_indexed("x1", False, "not_covered", False)])
    new = _write_run(tmp_path / "b", [_asked("q1", True, True, False)], [_indexed("x1", False, "answered", False)])
    lines = list(answers.compare(base, new))
    assert lines[0].startswith("questions: answerable 1, evidence 1") and "\n  -> answerable 1, evidence 0" in lines[0]
    assert "  q1 predicted_answerable: True -> False  question q1?" in lines
    assert "  q1 evidence_hit: True -> False  question q1?" in lines
    assert "  x1 grade: 'not_covered' -> 'answered'  question x1?" in lines
    assert any(line.startswith("xquad-en-zh:") and "not indexed declined 0" in line for line in lines)


def test_a_run_missing_a_report_or_a_question_says_so(tmp_path: Path) -> None:
    base = _write_run(tmp_path / "a", [_asked("q1", True, False, True), _asked("q2", True, False, True)], [])
    new = tmp_path / "b"
    new.mkdir()
    (new / "sets.json").write_text((base / "sets.json").read_text("utf-8").replace('"q2"', '"q3"'), "utf-8")
    lines = list(answers.compare(base, new))
    assert f"xquad-en-zh: only in {base}" in lines and f"  q2: not in {new}" in lines


def test_the_data_sets_are_asked_of_their_own_split_indexes(tmp_path: Path) -> None:
    runs = answers.squad_runs(tmp_path)
    assert set(runs) == {"xquad-en-zh", "xquad-zh-zh", "cmrc-trial"}
    assert all("--split-articles" in arguments for arguments in runs.values())
    assert runs["xquad-en-zh"][:4] == [
        "--squad",
        str(tmp_path / "xquad-train" / "xquad.zh.json"),
        "--questions-from",
        str(tmp_path / "xquad-train" / "xquad.en.json"),
    ]


def test_a_missing_run_or_data_set_folder_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as missing:
        answers.main(["compare", "k1", "s1"])
    assert missing.value.code == 2
    with pytest.raises(SystemExit) as no_data:
        answers.main(["run", "k1", "--datasets", str(tmp_path)])
    assert no_data.value.code == 2
