"""Train the reader from the public data sets in ``../shared/datasets`` (``make reader``).

Chinese questions over Chinese text come from CMRC 2018 (dev) and DRCD (dev); cross-lingual ones from
XQuAD, whose questions share their id across languages. Articles are split, never questions: XQuAD's
last DEV_ARTICLES articles and CMRC's trial file are the dev set, used for the figures printed per
epoch, the choice of epoch, the calibration and the "not covered" threshold.
"""

from __future__ import annotations

import argparse
import functools
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer

from rag.config import DEFAULT_MODEL, Settings
from rag.embedding import resolve_model_path
from rag.rankers.readernet import (
    ReaderNet,
    build_net,
    load_reader,
    logits_and_spans,
    save_reader,
)
from rag.rankers.reading import default_dir
from rag.training.calibrate import (
    DevSet,
    calibration,
    decisions,
    dev_set,
    measure,
    public,
)
from rag.training.pairs import build_pairs, locate_questions, paragraph_sentences, question_texts
from rag.training.squad import load_squad
from rag.training.steps import Optimisation, Pair, epochs

DEV_ARTICLES = 6  # of XQuAD's 24
# Languages whose XQuAD questions are asked of the Chinese paragraphs (and English and Chinese ones of
# the English paragraphs): English matters most, the others teach that the question's language varies.
CROSS_LANGUAGES = ("en", "zh", "de", "es", "ru", "vi")


@dataclass(frozen=True)
class TrainConfig:
    datasets: Path
    out: Path
    layers: int = 6
    epochs: int = 1
    batch_size: int = 32
    lr: float = 8e-5
    head_lr: float = 1e-3
    max_pairs: int = 24_000
    # 1: each question is also a negative of its own, as a heading that restates it, in training and in the dev
    # set (README, "The reader": tried with 28,000 pairs, not shipped).
    restating: int = 0
    dev_questions: int = 250
    seed: int = 13
    threads: int = 2


def load_data(
    cfg: TrainConfig, rng: random.Random, pairs: bool = True
) -> tuple[list[Pair], list[DevSet], dict[str, Any]]:
    root = cfg.datasets
    cmrc = load_squad(root / "cmrc2018" / "cmrc2018_dev.json")
    drcd = load_squad(root / "drcd" / "DRCD_dev.json")
    trial = load_squad(root / "cmrc2018" / "cmrc2018_trial.json")
    xquad = {lang: load_squad(root / "xquad-train" / f"xquad.{lang}.json") for lang in CROSS_LANGUAGES}
    cut = len(xquad["zh"]) - DEV_ARTICLES
    train: list[Pair] = []
    restating = bool(cfg.restating)
    for articles in (cmrc, drcd) if pairs else ():
        located = locate_questions(articles, paragraph_sentences(articles))
        train += build_pairs(articles, located, rng, restating=restating)
    for context_lang, asked in (("zh", CROSS_LANGUAGES), ("en", ("en", "zh"))) if pairs else ():
        contexts = xquad[context_lang][:cut]
        sentences = paragraph_sentences(contexts)
        for lang in asked:
            texts = question_texts(xquad[lang][:cut])
            located = locate_questions(contexts, sentences, texts)
            train += build_pairs(contexts, located, rng, restating=restating)
    rng.shuffle(train)
    train = train[: cfg.max_pairs]
    dev = [
        dev_set("en→zh", xquad["zh"][cut:], question_texts(xquad["en"][cut:]), cfg.dev_questions, rng, restating),
        dev_set("zh→zh", xquad["zh"][cut:] + trial, None, cfg.dev_questions, rng, restating),
    ]
    data = {
        "train": f"CMRC 2018 dev, DRCD dev, XQuAD articles 1-{cut} (questions in {', '.join(CROSS_LANGUAGES)} "
        "over Chinese paragraphs; English and Chinese over English paragraphs)",
        "dev": f"XQuAD articles {cut + 1}-24 (English and Chinese questions over Chinese paragraphs), CMRC 2018 trial",
        "pairs": len(train),
        "positives": sum(p.label for p in train),
    }
    return train, dev, data


def train(cfg: TrainConfig) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    settings = Settings.from_env()
    model_dir = Path(resolve_model_path(settings))
    pairs, dev, data = load_data(cfg, rng)
    print(
        f"{data['pairs']} training pairs ({data['positives']} positive); dev: "
        + ", ".join(f"{d.name} {len(d.questions)} questions" for d in dev),
        flush=True,
    )
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    net = build_net(model_dir, cfg.layers)
    how = Optimisation(cfg.epochs, cfg.batch_size, cfg.lr, cfg.head_lr)
    started, history = time.perf_counter(), []
    best: dict[str, Any] | None = None
    for epoch in epochs(net, tokenizer, pairs, how, rng):
        figures = measure(functools.partial(logits_and_spans, net, tokenizer), dev, f"epoch {epoch} dev")
        score = dev_score(figures)
        history.append({"epoch": epoch, **{f["name"]: public(f) for f in figures}})
        if best is None or score > best["score"]:
            best = {"score": score, "figures": figures, "state": {k: v.clone() for k, v in net.state_dict().items()}}
    assert best is not None
    net.load_state_dict(best["state"])
    figures = best["figures"]
    minutes = round((time.perf_counter() - started) / 60, 1)
    return save_calibrated(net, reader_manifest(cfg, net, data, history, minutes, figures), cfg.out)


def dev_score(figures: list[dict[str, Any]]) -> float:
    """What chooses the epoch: how often the answer sentence ranks first, plus AUC, averaged over the dev sets."""
    return float(np.mean([f["top1"] + f["auc"] for f in figures]))


def reader_manifest(
    cfg: TrainConfig,
    net: ReaderNet,
    data: dict[str, Any],
    history: list[dict[str, Any]],
    minutes: float,
    figures: list[dict[str, Any]],
    **more: Any,
) -> dict[str, Any]:
    """The manifest saved beside a trained reader: base model, data, seed, settings, code, dev figures, calibration."""
    return {
        "base_model": DEFAULT_MODEL,
        "layers": cfg.layers,
        "pooling": net.pooling,
        "data": data,
        "seed": cfg.seed,
        "config": {k: v for k, v in asdict(cfg).items() if k not in ("datasets", "out")},
        "code_version": code_version(),
        **more,
        "history": history,
        "train_minutes": minutes,
        **calibration(figures),
    }


def recalibrate(cfg: TrainConfig) -> dict[str, Any]:
    """Measure the reader in ``cfg.out`` on the dev set again and rewrite its calibration."""
    torch.set_num_threads(cfg.threads)
    settings = Settings.from_env()
    reader = load_reader(Path(resolve_model_path(settings)), settings.embedding_model, cfg.out)
    _, dev, _ = load_data(cfg, random.Random(cfg.seed), pairs=False)
    figures = measure(functools.partial(logits_and_spans, reader.net, reader.tokenizer), dev, "dev")
    manifest = {**reader.manifest, **calibration(figures), "code_version": code_version()}
    return save_calibrated(reader.net, manifest, cfg.out)


def save_calibrated(net: ReaderNet, manifest: dict[str, Any], out: Path) -> dict[str, Any]:
    save_reader(net, manifest, out)
    print(f"{decisions(manifest)}; saved to {out}", flush=True)
    return manifest


def code_version() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--out", type=Path, default=default_dir())
    parser.add_argument("--calibrate-only", action="store_true", help="re-measure and recalibrate the reader in --out")
    defaults = TrainConfig(Path(), Path())
    for name in ("layers", "epochs", "batch_size", "max_pairs", "restating", "dev_questions", "seed", "threads"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("lr", "head_lr"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    args = parser.parse_args(argv)
    if not (args.datasets / "cmrc2018").is_dir():
        print(f"no data sets in {args.datasets}: pass --datasets DIR", file=sys.stderr)
        return 2
    recalibrate_only = args.__dict__.pop("calibrate_only")
    cfg = TrainConfig(**vars(args))
    recalibrate(cfg) if recalibrate_only else train(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
