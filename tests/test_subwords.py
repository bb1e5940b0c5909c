"""The serving tokenizer (tokenizers' normaliser + SentencePiece's Viterbi) against tokenizers' own Unigram."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from rag.config import Settings
from rag.errors import ModelError
from rag.subwords import TOKENIZER_FILE, PieceTokenizer, split_tokenizer
from rag.tools.provision import provisioned_dir

ROOT = Path(__file__).resolve().parent.parent
# The public data sets (README, "Reader"): beside the checkout, or where RAG_TEST_DATASETS says.
DATASETS = Path(os.environ.get("RAG_TEST_DATASETS", ROOT.parent / "shared" / "datasets"))
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


def seed_texts() -> list[str]:
    """Edge cases and the seeds in 300-character windows."""
    found = list(EDGES)
    for path in sorted((ROOT / "seeds").iterdir()):
        text = path.read_text("utf-8", errors="replace")
        found += [text[i : i + 300] for i in range(0, len(text), 250)]
    return found


def dataset_texts() -> list[str]:
    """Contexts and questions of the 12 XQuAD languages, CMRC 2018 and DRCD."""
    found = []
    for path in sorted((DATASETS / "xquad-train").glob("xquad.*.json")) + sorted(DATASETS.glob("*/*dev.json")):
        articles = json.loads(path.read_text("utf-8"))["data"]
        for article in articles[:2]:
            for paragraph in article["paragraphs"][:3]:
                found.append(paragraph["context"])
                found += [qa["question"] for qa in paragraph["qas"][:3]]
    return found


def assert_same_ids(exported: Path, batch: list[str]) -> None:
    reference = Tokenizer.from_file(str(exported / TOKENIZER_FILE))
    reference.enable_truncation(512)
    pieces = PieceTokenizer(exported, 512)
    expected = [e.ids for e in reference.encode_batch(batch)]
    different = [text[:60] for text, a, b in zip(batch, expected, pieces.encode_batch(batch), strict=True) if a != b]
    assert different == []


@pytest.mark.model
def test_pieces_give_the_ids_of_the_tokenizers_library_on_the_seeds(exported: Path) -> None:
    batch = seed_texts()
    assert len(batch) > 100
    assert_same_ids(exported, batch)


@pytest.mark.model
def test_pieces_give_the_ids_of_the_tokenizers_library_in_12_languages(exported: Path) -> None:
    if not (DATASETS / "xquad-train").is_dir():
        pytest.skip(f"no data sets at {DATASETS} (set RAG_TEST_DATASETS)")
    batch = dataset_texts()
    assert len(batch) > 200
    assert_same_ids(exported, batch)


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


def test_a_process_that_exits_while_the_pieces_load_exits_cleanly(exported: Path) -> None:
    # `rag model` loads the tokenizer and exits at once. With torch imported (provisioning), a daemon loading
    # thread was killed inside SentencePiece's C++ at shutdown and aborted the process, 4 times in 5.
    code = (
        "import pathlib, torch\n"
        "from rag.subwords import PieceTokenizer\n"
        f"PieceTokenizer(pathlib.Path({str(exported)!r}), 512)\n"
    )
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr[-500:]
