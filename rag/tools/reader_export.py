"""Export the shipped reader to ONNX, once, inside the export of the embedding model it is built on.

The graph is the reader after its word-embedding lookup: ``inputs_embeds`` (the word vectors of the input's
pieces), ``attention_mask`` and ``sentence_mask`` -> ``relevance`` (a logit per pair) and ``spans`` (start
and end logits per token). The word embeddings are the base model's, which training leaves as they were,
and the embedder's export holds them already (``word_embeddings.npy``): the reader
(``rag.rankers.reader_onnx``) looks its pieces up there, as the embedder does, instead of holding a second
copy. So the reader's export lives in the embedder's export folder: exported anew, that folder takes its
readers with it.

The folder is named by a digest of the reader's manifest (``reader.json``, which every training or
calibration run rewrites), so that a retrained reader is exported again and serving needs the manifest
only, not the weights. Exporting needs torch, transformers and onnx; it runs at provisioning time, never
when serving.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

from rag.errors import ModelError
from rag.rankers.reading import MANIFEST, VERIFIER_MANIFEST, VERIFIER_WEIGHTS, WEIGHTS, weights_digest
from rag.tools.onnx_export import OPSET, fuse, write_once

MODEL_FILE = "reader.onnx"
CONFIG_FILE = "reader-onnx.json"
# Bump when the files this module writes change, so exports made before are redone.
# 2: the word embeddings are the embedder's word_embeddings.npy, not a place in its model.onnx.data;
# 3: the weight matrices stored as fp16 (rag.tools.onnx_export.store_half, which fuse() runs);
# 4: those shipped in int8 stored in int8 behind a DequantizeLinear (rag.tools.onnx_export.store_int8), the rest
# as in 3.
LAYOUT = 4


def reader_onnx_dir(embedder_dir: Path, source: Path, verifier: bool = False) -> Path:
    manifests = (MANIFEST, VERIFIER_MANIFEST) if verifier else (MANIFEST,)
    digest = hashlib.sha256(b"".join((source / m).read_bytes() for m in manifests)).hexdigest()[:12]
    return embedder_dir / f"{'verifier' if verifier else 'reader'}-r{LAYOUT}-{digest}"


def ensure_reader_onnx(embedder_dir: Path, source: Path, base_model: str, verifier: bool = False) -> Path:
    """The ONNX folder of the reader in ``source`` (with ``verifier``, of its verifier) on the embedding model
    exported to ``embedder_dir``, exported once (atomically)."""
    target = reader_onnx_dir(embedder_dir, source, verifier)
    return write_once(target, CONFIG_FILE, lambda out: export(embedder_dir, source, base_model, out, verifier))


def export(embedder_dir: Path, source: Path, base_model: str, out: Path, verifier: bool = False) -> None:
    """Write reader.onnx (its weights in reader.onnx.data) and reader-onnx.json into ``out``. The reader
    (with ``verifier``, the verifier) is loaded on the model whose export ``embedder_dir`` is (the folder above it)."""
    try:
        import onnx  # noqa: F401  (fuse() saves with it; missing, it would fail only after the trace)
        import torch

        from rag.rankers.readernet import load_reader
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"exporting the reader to ONNX needs torch, transformers and onnx ({exc.name} is missing): "
            "pip install 'rag[export]' (make install does), or export it where they are with "
            "`RAG_READER=on rag model` and copy the model cache; or set RAG_READER=off"
        ) from None

    reader = load_reader(embedder_dir.parent, base_model, source, source if verifier else None)
    net = reader.net
    encoder: Any = net.encoder
    # Eager attention traces to the pattern ONNX Runtime fuses into one Attention op (as the embedder's).
    encoder.set_attn_implementation("eager")
    hidden = int(encoder.config.hidden_size)
    config = {
        "layout": LAYOUT,
        "base_model": base_model,
        "weights_sha256": weights_digest(source / WEIGHTS),
        **({"verifier_sha256": weights_digest(source / VERIFIER_WEIGHTS)} if verifier else {}),
        **_special_ids(reader.tokenizer),
    }
    traced = out / "traced.onnx"
    width = 6
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
        torch.onnx.export(
            _without_lookup(net),
            (
                torch.zeros(1, width, hidden),
                torch.ones(1, width, dtype=torch.int64),
                torch.tensor([[0, 0, 0, 1, 1, 0]]),
            ),
            str(traced),
            input_names=["inputs_embeds", "attention_mask", "sentence_mask"],
            output_names=["relevance", "spans"],
            dynamic_axes={
                "inputs_embeds": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "sentence_mask": {0: "batch", 1: "tokens"},
                "relevance": {0: "batch"},
                "spans": {0: "batch", 1: "tokens"},
            },
            opset_version=OPSET,
            dynamo=False,  # as the embedder's export: the dynamo exporter needs onnxscript
        )
    fuse(traced, out / MODEL_FILE, encoder.config.num_attention_heads, encoder.config.hidden_size, int8=True)
    traced.unlink()
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2), "utf-8")
    for manifest in (MANIFEST, VERIFIER_MANIFEST) if verifier else (MANIFEST,):
        shutil.copyfile(source / manifest, out / manifest)  # what was exported, for whoever looks in the cache
    for path in out.rglob("*"):
        path.chmod(0o644)
    out.chmod(0o755)


def _special_ids(tokenizer: Any) -> dict[str, int]:
    """The special pieces around a (question, sentence) pair, checked against the tokenizer's own layout,
    ``<s> question </s></s> sentence </s>`` (XLM-R's), which the ONNX reader builds by hand."""
    cls, sep, pad = int(tokenizer.cls_token_id), int(tokenizer.sep_token_id), int(tokenizer.pad_token_id)
    first = tokenizer("a b", add_special_tokens=False)["input_ids"]
    second = tokenizer("c", add_special_tokens=False)["input_ids"]
    if tokenizer("a b", "c")["input_ids"] != [cls, *first, sep, sep, *second, sep]:
        raise ModelError("the reader's ONNX export handles XLM-R's pair layout <s> A </s></s> B </s> only")
    return {"cls_id": cls, "sep_id": sep, "pad_id": pad}


def _without_lookup(net: Any) -> Any:
    """The reader as a module that takes the word vectors instead of the piece ids."""
    import torch

    class WithoutLookup(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(
            self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, sentence_mask: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            states = self.net.encoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
            relevance, spans = self.net.heads(states, attention_mask, sentence_mask)
            return relevance, spans

    return WithoutLookup()
