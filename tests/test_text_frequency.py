import gzip
from pathlib import Path

import msgpack
import pytest
from wordfreq import get_frequency_dict, top_n_list, zipf_frequency

from rag.evaluation.metrics import load_questions
from rag.text.crosslingual import ENGLISH_WORDS, english_words, zipf
from rag.text.frequency import Frequencies, english
from rag.text.tokenize import tokenize

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def table() -> Frequencies:
    return english(ENGLISH_WORDS)


@pytest.fixture(scope="module")
def wordfreqs() -> dict[str, float]:
    return get_frequency_dict("en")


def test_every_word_of_the_list_has_wordfreqs_frequency(table: Frequencies, wordfreqs: dict[str, float]) -> None:
    wrong = [w for w, f in wordfreqs.items() if table.frequency(w) != f]
    assert not wrong, wrong[:10]


def test_words_stored_in_other_widths_with_the_same_bytes_are_told_apart(
    table: Frequencies, wordfreqs: dict[str, float]
) -> None:
    # "つ" is stored as the two bytes of "d0": hashed as stored, the two collided and つ read d0's frequency.
    assert table.frequency("つ") == wordfreqs["つ"]
    assert table.frequency("d0") == wordfreqs["d0"]
    assert wordfreqs["つ"] != wordfreqs["d0"]


def test_zipf_is_wordfreqs_on_a_sample_of_the_list_and_on_odd_words(wordfreqs: dict[str, float]) -> None:
    odd = ["", "the", "The", "GPT-4", "gpt-4o", "o1-mini", "v3", "2024", "1,000", "3.5", "don't", "co-founder",
           "naïve", "xyzzyqq", "DeepSeek", "a b", "中国", "つ", "d0"]  # fmt: skip
    words = [*list(wordfreqs)[::97], *odd]
    assert [zipf(w) for w in words] == [zipf_frequency(w, "en") for w in words]


def test_zipf_is_wordfreqs_on_every_latin_word_of_the_question_sets() -> None:
    questions = [q.question for path in BENCHMARKS.glob("*.jsonl") for q in load_questions(path)]
    words = sorted({t for q in questions for t in tokenize(q) if t.isascii()})
    assert len(words) > 300
    assert [zipf(w) for w in words] == [zipf_frequency(w, "en") for w in words]


def test_the_commonest_words_are_wordfreqs() -> None:
    assert english_words() == tuple(w for w in top_n_list("en", ENGLISH_WORDS) if w.isascii() and w.isalpha())


def _cbpack(path: Path, header: object, *buckets: list[str]) -> Path:
    with gzip.open(path, "wb") as out:
        out.write(msgpack.packb([header, *buckets]))
    return path


def test_a_list_is_read_bucket_by_bucket_keeping_its_first_words_without_digits(tmp_path: Path) -> None:
    path = _cbpack(tmp_path / "tiny.msgpack.gz", {"format": "cB", "version": 1}, [], ["fish"], ["00", "blue", "red"])
    tiny = Frequencies.read(path, commonest=2)
    assert tiny.frequency("fish") == pytest.approx(10**-0.01)
    assert tiny.frequency("red") == pytest.approx(10**-0.02)
    assert tiny.frequency("green") is None
    assert tiny.commonest == ("fish", "blue")


def test_a_file_that_is_no_word_list_is_refused(tmp_path: Path) -> None:
    path = _cbpack(tmp_path / "other.msgpack.gz", {"format": "other"}, ["fish"])
    with pytest.raises(ValueError, match="not a wordfreq cBpack file"):
        Frequencies.read(path, commonest=10)
