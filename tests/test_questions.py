"""The labelled question sets (benchmark, held-out, off-topic and English) are well formed and their quotes are real.

Every quote must be an exact substring of its raw seed file and plain text (no markup, no entities,
no line breaks), so that it survives cleaning and the benchmark can locate it in the clean text.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from rag.query import definition_subject
from rag.text.scripts import simplified

QUESTIONS_FILE = Path(__file__).parent.parent / "benchmarks" / "questions.jsonl"
# Written later from the documents alone, without running the pipeline: a check on the tuning.
HELDOUT_FILE = Path(__file__).parent.parent / "benchmarks" / "heldout.jsonl"
# Questions off the corpus's subject, all unanswerable; no fit has seen them.
OFF_TOPIC_FILE = Path(__file__).parent.parent / "benchmarks" / "offtopic.jsonl"
# English questions written last, from the documents alone, kept for judging what comes next: no fit has seen them.
ENGLISH_FILE = Path(__file__).parent.parent / "benchmarks" / "english.jsonl"
# A second such set, written once the first had judged a candidate: for the next one.
ENGLISH2_FILE = Path(__file__).parent.parent / "benchmarks" / "english2.jsonl"
# A third, written 2026-12-04 before the next candidate was built, when the first two had judged several.
ENGLISH3_FILE = Path(__file__).parent.parent / "benchmarks" / "english3.jsonl"
# Short English questions that name one thing ("What is MLA?"), a weak case found by hand (README, "Grades").
SHORT_FILE = Path(__file__).parent.parent / "benchmarks" / "short.jsonl"
# Questions that only ask what or who something is, in English and Chinese, written before the rule that grades them.
DEFINITIONS_FILE = Path(__file__).parent.parent / "benchmarks" / "definitions.jsonl"
# The same in other words ("What does MoE stand for?", "介绍一下幻方量化"), written before the rule read them.
PHRASINGS_FILE = Path(__file__).parent.parent / "benchmarks" / "phrasings.jsonl"
# English questions that name the corpus's people and titles in pinyin ("Who is Zhuang Minghao?"), written 2026-12-05 to
# judge reading such names as the corpus spells them (README, "Names set"): no fit has seen them.
NAMES_FILE = Path(__file__).parent.parent / "benchmarks" / "names.jsonl"
# The definitions set's questions reduced to their subjects ("Who is Nathan Lambert?" -> "Nathan Lambert"), as typed
# into a search box: written from it mechanically before it was run (README, "Definitional questions").
TERMS_FILE = Path(__file__).parent.parent / "benchmarks" / "terms.jsonl"
# The benchmark set's Chinese questions in traditional script, written from it mechanically (each character to its
# commonest traditional form among CC-CEDICT's headwords, where it writes no traditional form itself).
TRADITIONAL_FILE = Path(__file__).parent.parent / "benchmarks" / "traditional.jsonl"
# The benchmark set's questions as people dress them ("Hi, …", "… Thanks!", "…?!", emoji, quotation marks), written
# from it mechanically before it was run: each must be answered as the plain question is (tests/test_benchmark.py).
DRESSED_FILE = Path(__file__).parent.parent / "benchmarks" / "dressed.jsonl"
SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"

LANGS = {"en", "zh", "mixed"}
TYPES = {"fact", "number", "name", "date", "opinion", "disputed", "keyword", "misspelt", "unanswerable"}
FIELDS = {"id", "question", "lang", "type", "answerable", "evidence"}
SPAM = "有杠杆的股票平台"
FORBIDDEN = ("<", ">", "&", "\n", "\r", SPAM)
MIN_QUOTE, MAX_QUOTE = 10, 120


def load_questions(path: Path = QUESTIONS_FILE) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@cache
def seed_text(name: str) -> str:
    return (SEEDS_DIR / name).read_text(encoding="utf-8")


MAIN = load_questions()
QUESTIONS = (
    MAIN
    + load_questions(HELDOUT_FILE)
    + load_questions(OFF_TOPIC_FILE)
    + load_questions(ENGLISH_FILE)
    + load_questions(ENGLISH2_FILE)
    + load_questions(ENGLISH3_FILE)
    + load_questions(SHORT_FILE)
    + load_questions(DEFINITIONS_FILE)
    + load_questions(PHRASINGS_FILE)
    + load_questions(NAMES_FILE)
    + load_questions(TERMS_FILE)
    + load_questions(TRADITIONAL_FILE)
    + load_questions(DRESSED_FILE)
)  # each question is checked, whichever set it is in
IDS = [q.get("id", f"line{n}") for n, q in enumerate(QUESTIONS, start=1)]
SEED_FILES = {p.name for p in SEEDS_DIR.glob("*.txt")}


def test_ids_are_unique() -> None:
    duplicates = [i for i, n in Counter(IDS).items() if n > 1]
    assert not duplicates


def test_questions_are_unique() -> None:
    duplicates = [q for q, n in Counter(q["question"] for q in QUESTIONS).items() if n > 1]
    assert not duplicates


def test_enough_questions() -> None:
    assert len(MAIN) >= 80


def test_enough_unanswerable() -> None:
    assert sum(not q["answerable"] for q in MAIN) >= 8


def test_enough_disputed_from_several_sources() -> None:
    disputed = [q for q in MAIN if q["type"] == "disputed"]
    assert len(disputed) >= 8
    for q in disputed:
        files = {e["file"] for e in q["evidence"]}
        assert len(files) >= 2, q["id"]


@pytest.mark.parametrize(
    ("path", "disputed"),
    [(ENGLISH_FILE, 4), (ENGLISH2_FILE, 1), (ENGLISH3_FILE, 3)],
    ids=["english", "english2", "english3"],
)
def test_the_english_sets_are_english_and_hold_near_misses(path: Path, disputed: int) -> None:
    english = load_questions(path)
    assert len(english) >= 30 and {q["lang"] for q in english} == {"en"}
    assert sum(not q["answerable"] for q in english) >= 8
    several = [q for q in english if q["type"] == "disputed"]
    assert len(several) >= disputed and all(len({e["file"] for e in q["evidence"]}) >= 2 for q in several)


def test_the_short_set_asks_in_a_few_english_words() -> None:
    short = load_questions(SHORT_FILE)
    assert {q["lang"] for q in short} == {"en"} and all(len(q["question"].split()) <= 5 for q in short)
    assert sum(not q["answerable"] for q in short) >= 5


def test_the_definitions_set_asks_what_or_who_in_both_languages() -> None:
    definitions = load_questions(DEFINITIONS_FILE)
    assert {q["lang"] for q in definitions} == {"en", "zh"}
    asks = re.compile(r"^(?:what|who) (?:is|was)\b|是(?:什么|谁)？$|^什么是", re.IGNORECASE)
    assert all(asks.search(q["question"]) for q in definitions)
    assert sum(not q["answerable"] for q in definitions) >= 8


def test_the_terms_set_is_the_definitions_set_reduced_to_its_subjects() -> None:
    definitions = {q["id"][1:]: q for q in load_questions(DEFINITIONS_FILE)}
    terms = load_questions(TERMS_FILE)
    assert len(terms) >= 20 and sum(not t["answerable"] for t in terms) >= 8
    for term in terms:
        asked = definitions[term["id"][1:]]
        assert definition_subject(asked["question"]) == term["question"] == definition_subject(term["question"])
        assert (term["answerable"], term["evidence"]) == (asked["answerable"], asked["evidence"])


def test_the_traditional_set_is_the_benchmark_sets_chinese_in_traditional_script() -> None:
    asked = {q["id"][1:]: q for q in MAIN}
    traditional = load_questions(TRADITIONAL_FILE)
    assert len(traditional) >= 30 and sum(not q["answerable"] for q in traditional) >= 4
    for question in traditional:
        original = asked[question["id"][2:]]
        assert question["question"] != original["question"] == simplified(question["question"])
        assert (question["answerable"], question["evidence"]) == (original["answerable"], original["evidence"])


def _dressings(question: str) -> set[str]:
    """The eight ways the dressed set dresses a question, in its own language."""
    if re.search(r"[\u4e00-\u9fff]", question):
        bare = question.rstrip("？?")
        return {f"你好，{question}", f"{question}谢谢！", f"{bare}？？", f"“{question}”", f"{question}🤔",
                f"{bare}？！", f"您好！{question}", f"{question}多谢。"}  # fmt: skip
    bare, lowered = question.rstrip("?"), question[0].lower() + question[1:]
    greeted = lowered if question[1:2].islower() else question
    return {f"Hi, {greeted}", f"{question} Thanks!", f"{bare}??", f"“{question}”", f"{question} 🤔", f"{bare}?!",
            f"Hello! {question}", f"{question} Thank you."}  # fmt: skip


def test_the_dressed_set_is_the_benchmark_set_dressed() -> None:
    asked = {q["id"][1:]: q for q in MAIN}
    dressed = load_questions(DRESSED_FILE)
    assert len(dressed) == len(MAIN)
    for question in dressed:
        original = asked[question["id"][2:]]
        assert question["question"] in _dressings(original["question"])
        assert {k: v for k, v in question.items() if k not in ("id", "question")} == {
            k: v for k, v in original.items() if k not in ("id", "question")
        }


def test_the_names_set_asks_in_english_about_names_and_holds_near_misses() -> None:
    names = load_questions(NAMES_FILE)
    assert {q["lang"] for q in names} == {"en"} and len(names) >= 20
    assert sum(not q["answerable"] for q in names) >= 8


def test_language_mix() -> None:
    share = Counter(q["lang"] for q in MAIN)
    total = len(MAIN)
    assert 0.40 <= share["en"] / total <= 0.60
    assert 0.30 <= share["zh"] / total <= 0.50


@pytest.mark.parametrize("question", QUESTIONS, ids=IDS)
def test_fields(question: dict[str, Any]) -> None:
    assert set(question) == FIELDS
    assert isinstance(question["id"], str)
    assert question["id"]
    assert isinstance(question["question"], str)
    assert question["question"].strip()
    assert question["lang"] in LANGS
    assert question["type"] in TYPES
    assert isinstance(question["answerable"], bool)
    assert isinstance(question["evidence"], list)
    for evidence in question["evidence"]:
        assert set(evidence) == {"file", "quote"}
        assert evidence["file"] in SEED_FILES
        assert isinstance(evidence["quote"], str)


@pytest.mark.parametrize("question", QUESTIONS, ids=IDS)
def test_answerability_matches_evidence(question: dict[str, Any]) -> None:
    if question["answerable"]:
        assert question["type"] != "unanswerable"
        assert len(question["evidence"]) >= 1
    else:
        assert question["type"] == "unanswerable"
        assert question["evidence"] == []


@pytest.mark.parametrize("question", QUESTIONS, ids=IDS)
def test_quotes_are_clean_substrings_of_their_seed(question: dict[str, Any]) -> None:
    for evidence in question["evidence"]:
        quote = evidence["quote"]
        assert MIN_QUOTE <= len(quote) <= MAX_QUOTE, quote
        assert not any(bad in quote for bad in FORBIDDEN), quote
        assert quote == quote.strip(), quote
        assert not quote.startswith(("> ", "- ", "#")), quote
        assert quote in seed_text(evidence["file"]), quote
