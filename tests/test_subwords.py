"""The serving tokenizer (tokenizers' normaliser + SentencePiece's Viterbi) against tokenizers' own Unigram."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from rag.config import Settings
from rag.errors import ModelError
from rag.subwords import TOKENIZER_FILE, PieceTokenizer, split_tokenizer
from rag.tools.provision import provisioned_dir

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
EDGES = [
    "",
    " ",
    "   leading, trailing and   inner runs of spaces   ",
    "tabs\tand\nnew\n\nlines\r\n",
    "ideographic\u3000space, no-break\u00a0space, zero\u200bwidth",
    "ｆｕｌｌ ｗｉｄｔｈ，①②③，ﬁ ligature, ㈱ ㍿, Ĳ ǅ",
    "emoji 😀🤖 and rare scripts ᚠᛇᚻ 𓀀",
    "<s> literal special tokens </s> <pad><unk><mask>in words</s>",
    "query: Who founded DeepSeek?",
    "passage: Deepseek创始人梁文峰，毕业于浙江大学。他说：“我们不做中国的OpenAI。”",
    "Straße, naïve café, İstanbul, ΑΘΗΝΑ, Ελλάδα, Москва, مرحبا, नमस्ते, สวัสดี",
    "DeepSeek-V3 " * 400,  # cut at 512 tokens
    "深" * 700,
]
# Not among them: a run of one repeated character ("xxxx..."), which both segment into the same pieces with
# the same score, in a different order (ties are broken differently); the vectors hardly differ.


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = provisioned_dir(Settings.from_env().model_cache) / TOKENIZER_FILE
    if not source.is_file():
        pytest.skip("the model is not provisioned (make install)")
    out = tmp_path_factory.mktemp("subwords")
    split_tokenizer(source, out)
    (out / TOKENIZER_FILE).write_bytes(source.read_bytes())
    return out


def texts() -> list[str]:
    """Edge cases, the seeds in 300-character windows, and contexts and questions of the 12 XQuAD languages."""
    found = list(EDGES)
    for path in sorted((ROOT / "seeds").iterdir()):
        text = path.read_text("utf-8", errors="replace")
        found += [text[i : i + 300] for i in range(0, len(text), 250)]
    for path in sorted((DATASETS / "xquad-train").glob("xquad.*.json")) + sorted(DATASETS.glob("*/*dev.json")):
        articles = json.loads(path.read_text("utf-8"))["data"]
        for article in articles[:2]:
            for paragraph in article["paragraphs"][:3]:
                found.append(paragraph["context"])
                found += [qa["question"] for qa in paragraph["qas"][:3]]
    return found


@pytest.mark.model
def test_pieces_give_the_ids_of_the_tokenizers_library(exported: Path) -> None:
    reference = Tokenizer.from_file(str(exported / TOKENIZER_FILE))
    reference.enable_truncation(512)
    pieces = PieceTokenizer(exported, 512)
    batch = texts()
    assert len(batch) > 300
    expected = [e.ids for e in reference.encode_batch(batch)]
    different = [text[:60] for text, a, b in zip(batch, expected, pieces.encode_batch(batch), strict=True) if a != b]
    assert different == []


@pytest.mark.model
def test_pieces_give_the_ids_and_offsets_of_the_tokenizers_library(exported: Path) -> None:
    """What the reader reads with: each text's pieces, uncut and without special tokens around it, and
    where each lies in the text (a quote's short answer is cut out by these offsets)."""
    reference = Tokenizer.from_file(str(exported / TOKENIZER_FILE))
    batch = texts()
    expected = [(e.ids, e.offsets) for e in reference.encode_batch(batch, add_special_tokens=False)]
    found = [(p.ids, p.offsets) for p in PieceTokenizer(exported, 512).pieces(batch)]
    different = [text[:60] for text, a, b in zip(batch, expected, found, strict=True) if a != b]
    assert different == []


@pytest.mark.model
@pytest.mark.parametrize("length", [8, 512])
def test_truncation_keeps_the_special_tokens(exported: Path, length: int) -> None:
    ids = PieceTokenizer(exported, length).encode("深度求索 " * 500)
    assert len(ids) == length and ids[0] == 0 and ids[-1] == 2


def test_only_unigram_tokenizers_are_split(tmp_path: Path) -> None:
    source = tmp_path / TOKENIZER_FILE
    source.write_text(json.dumps({"model": {"type": "WordPiece", "vocab": {}}}))
    with pytest.raises(ModelError, match="Unigram"):
        split_tokenizer(source, tmp_path)
