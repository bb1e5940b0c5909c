from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.ingest.chunking import chunk_document, first_sentence, last_sentence, split_sentences
from rag.ingest.loading import load_corpus
from rag.types import Chunk, Document

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _doc(text: str) -> Document:
    return Document("d", "d.txt", "d", None, None, None, "zh", text)


def _assert_offsets(doc: Document, chunks: list[Chunk], chunk_size: int, chunk_overlap: int) -> None:
    covered = [False] * len(doc.text)
    for index, chunk in enumerate(chunks):
        assert chunk.chunk_id == f"{doc.doc_id}#{index}"
        assert chunk.index == index
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert 0 < len(chunk.text) <= chunk_size
        assert chunk.text == chunk.text.strip()
        for sentence in chunk.sentences:
            assert doc.text[sentence.start : sentence.end] == sentence.text
            assert chunk.start <= sentence.start < sentence.end <= chunk.end
        covered[chunk.start : chunk.end] = [True] * len(chunk.text)
    for before, after in itertools.pairwise(chunks):
        assert before.start < after.start
        assert before.end <= after.end
        if chunk_overlap == 0:
            assert before.end <= after.start
    assert all(done or char.isspace() for char, done in zip(doc.text, covered, strict=True))


def test_split_sentences_on_chinese_end_marks_with_closing_quotes() -> None:
    text = "他说：“这是本来就有的。”然后走了！！真的吗？是的；最后一句"
    assert [s.text for s in split_sentences(text)] == [
        "他说：“这是本来就有的。”",
        "然后走了！！",
        "真的吗？",
        "是的；",
        "最后一句",
    ]


def test_split_sentences_at_line_breaks_and_latin_full_stops() -> None:
    text = "00:04:08 Lily眼中春节DeepSeek的爆火\n00:10:06 第一次出现\nVol.51 is out. It costs 2.0 dollars!"
    assert [s.text for s in split_sentences(text)] == [
        "00:04:08 Lily眼中春节DeepSeek的爆火",
        "00:10:06 第一次出现",
        "Vol.51 is out.",
        "It costs 2.0 dollars!",
    ]


def test_split_sentences_strips_whitespace_and_keeps_offsets() -> None:
    text = "  第一句。  \n\n  第二句！"
    sentences = split_sentences(text, offset=100)
    assert [s.text for s in sentences] == ["第一句。", "第二句！"]
    assert all(text[s.start - 100 : s.end - 100] == s.text for s in sentences)


def test_split_sentences_drops_fragments_without_two_characters_of_content() -> None:
    assert [s.text for s in split_sentences("好。\n。\nA!\n01\n——\n对的。")] == ["01", "对的。"]


def test_chunk_boundaries_fall_at_sentence_ends() -> None:
    text = "".join(f"第{n}句话在这里结束。" for n in range(40))
    doc = _doc(text)
    chunks = chunk_document(doc, 50, 0)
    assert len(chunks) > 1
    assert all(chunk.text.endswith("。") for chunk in chunks)
    assert [s.text for c in chunks for s in c.sentences] == [s.text for s in split_sentences(text)]


def test_a_heading_is_packed_with_the_long_paragraph_after_it() -> None:
    doc = _doc("亮点\n\n" + "这是一个很长的句子，里面有很多内容。" * 20)
    first = chunk_document(doc, 100, 0)[0]
    assert first.text.startswith("亮点\n\n这是一个很长的句子")


def test_a_sentence_longer_than_a_chunk_is_cut_at_commas_into_recorded_pieces() -> None:
    sentence = "，".join(f"第{n}个从句" for n in range(30)) + "。"
    doc = _doc(sentence)
    chunks = chunk_document(doc, 60, 0)
    assert len(chunks) > 1
    assert all(chunk.text.endswith(("，", "。")) for chunk in chunks)
    assert all(len(chunk.sentences) == 1 for chunk in chunks)


@pytest.mark.parametrize(
    ("text", "chunk_size", "chunk_overlap"),
    [
        pytest.param("\n\n。abxab\ncd。。xab，\n 好", 6, 4, id="blank-pieces-carried-over"),
        pytest.param("\nb\nb", 3, 1, id="repeated-line-in-overlap"),
        pytest.param("否。好的。\n否。好的。\n否。好的。", 6, 3, id="repeated-sentences"),
    ],
)
def test_repeats_and_blanks_keep_offsets_exact(text: str, chunk_size: int, chunk_overlap: int) -> None:
    doc = _doc(text)
    _assert_offsets(doc, chunk_document(doc, chunk_size, chunk_overlap), chunk_size, chunk_overlap)


def test_empty_text_gives_no_chunks() -> None:
    assert chunk_document(_doc(""), 100, 0) == []


@pytest.mark.parametrize(
    ("chunk_size", "chunk_overlap"),
    [
        pytest.param(0, 0, id="size-zero"),
        pytest.param(100, -1, id="negative-overlap"),
        pytest.param(100, 100, id="overlap-equals-size"),
    ],
)
def test_bad_sizes_are_refused(chunk_size: int, chunk_overlap: int) -> None:
    with pytest.raises(ValueError, match="chunk_"):
        chunk_document(_doc("文本。"), chunk_size, chunk_overlap)


@pytest.mark.parametrize(
    ("chunk_size", "chunk_overlap"),
    [
        pytest.param(200, 0, id="200"),
        pytest.param(300, 0, id="300"),
        pytest.param(300, 60, id="300-overlap-60"),
        pytest.param(600, 0, id="600"),
        pytest.param(50, 20, id="50-overlap-20"),
    ],
)
def test_seed_chunks_and_sentences_quote_the_document_exactly(chunk_size: int, chunk_overlap: int) -> None:
    corpus = load_corpus([SEEDS])
    assert len(corpus.documents) == 5
    for doc in corpus.documents:
        _assert_offsets(doc, chunk_document(doc, chunk_size, chunk_overlap), chunk_size, chunk_overlap)


_PIECES = st.sampled_from(
    [
        "深度求索", "模型", "蒸馏", "英伟达", "DeepSeek", "GPU", "the model", "costs", "2.0", "Vol.51",
        "。", "！", "？", "；", "，", ",", ".", "!", "?", ";", "“", "”", "(", ")", " ", "  ", "\n", "\n\n", "\n \n",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None, database=None)
@given(
    pieces=st.lists(_PIECES, max_size=300),
    chunk_size=st.integers(min_value=3, max_value=300),
    overlap_share=st.floats(min_value=0, max_value=0.9),
)
def test_generated_documents_chunk_with_exact_offsets(pieces: list[str], chunk_size: int, overlap_share: float) -> None:
    doc = _doc("".join(pieces))
    chunk_overlap = min(chunk_size - 1, int(chunk_size * overlap_share))
    _assert_offsets(doc, chunk_document(doc, chunk_size, chunk_overlap), chunk_size, chunk_overlap)


@settings(max_examples=500, deadline=None, database=None)
@given(
    text=st.text(alphabet="ab好字。，!.?\n \u3000", max_size=80),
    chunk_size=st.integers(min_value=3, max_value=20),
    overlap_share=st.floats(min_value=0, max_value=0.9),
)
def test_small_chunks_of_dense_punctuation_and_blanks_keep_exact_offsets(
    text: str, chunk_size: int, overlap_share: float
) -> None:
    doc = _doc(text)
    chunk_overlap = min(chunk_size - 1, int(chunk_size * overlap_share))
    _assert_offsets(doc, chunk_document(doc, chunk_size, chunk_overlap), chunk_size, chunk_overlap)


@settings(max_examples=300, deadline=None, database=None)
@given(pieces=st.lists(_PIECES, max_size=200), offset=st.integers(min_value=0, max_value=10_000))
def test_generated_sentences_quote_the_text_exactly(pieces: list[str], offset: int) -> None:
    text = "".join(pieces)
    for sentence in split_sentences(text, offset):
        assert text[sentence.start - offset : sentence.end - offset] == sentence.text
        assert sentence.text == sentence.text.strip()
        assert "\n" not in sentence.text


@settings(max_examples=500, deadline=None, database=None)
@given(text=st.text(alphabet="ab好字。，!.?”\n \u3000", max_size=120), offset=st.integers(min_value=0, max_value=99))
def test_first_and_last_sentence_are_those_of_the_full_split(text: str, offset: int) -> None:
    sentences = split_sentences(text, offset)
    assert first_sentence(text, offset) == (sentences[0] if sentences else None)
    assert last_sentence(text, offset) == (sentences[-1] if sentences else None)
