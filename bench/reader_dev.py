"""The reader's dev figures (``rag.training.calibrate``: the dev set that chose its epoch and calibration)
through torch or an ONNX export, with how often it declines at the shipped calibration
(`python -m bench.reader_dev [--runtime onnx] [--export DIR]`).

It judges a change to how the reader runs (an export layout, int8) on questions that played no part in
choosing that change, unlike the benchmark's. Nothing is rewritten: ``--calibrate-only`` of
``rag.training.train`` is what recalibrates."""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.embedding import resolve_model_path
from rag.rankers.reading import checked_manifest, default_dir
from rag.training.calibrate import Scorer, calibration, decision_rates, decisions, measure, public
from rag.training.train import TrainConfig, load_data


def onnx_scorer(settings: Settings, export: Path | None, threads: int) -> Scorer:
    """The ONNX reader as served (the embedder's tokenizer and int8 word table), from ``export`` or the
    folder serving exports to."""
    from rag.rankers.reader_onnx import load_onnx_reader

    reader = load_onnx_reader(settings, export=export, threads=threads)
    print(f"ONNX reader in {reader.path}", flush=True)
    return reader.logits_and_spans


def torch_scorer(settings: Settings, threads: int) -> Scorer:
    import torch

    from rag.rankers.readernet import load_reader, logits_and_spans

    torch.set_num_threads(threads or torch.get_num_threads())
    reader = load_reader(Path(resolve_model_path(settings)), settings.embedding_model)
    return functools.partial(logits_and_spans, reader.net, reader.tokenizer)


def report(figures: list[dict[str, Any]], shipped: dict[str, float]) -> dict[str, Any]:
    """Per dev set and pooled: the figures, and the decline rates at the shipped calibration."""
    at = (shipped["temperature"], shipped["shift"], shipped["threshold"], shipped["uncertain"])
    out: dict[str, Any] = {f["name"]: {**public(f), **decision_rates([f], *at)} for f in figures}
    out["pooled"] = decision_rates(figures, *at)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--runtime", choices=("torch", "onnx"), default="onnx")
    parser.add_argument("--export", type=Path, help="an ONNX reader folder (reader-r*-*), not the served one")
    parser.add_argument("--threads", type=int, default=0, help="0: the runtime's default")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    if not (args.datasets / "cmrc2018").is_dir():
        print(f"no data sets in {args.datasets}: pass --datasets DIR", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    cfg = TrainConfig(args.datasets, default_dir())
    _, dev, _ = load_data(cfg, random.Random(cfg.seed), pairs=False)
    if args.runtime == "onnx":
        score = onnx_scorer(settings, args.export, args.threads)
    else:
        score = torch_scorer(settings, args.threads)
    figures = measure(score, dev, f"dev ({args.runtime})")
    shipped = checked_manifest(default_dir(), settings.embedding_model)["calibration"]
    out = {"shipped_calibration": report(figures, shipped), "refitted": calibration(figures)}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", "utf-8")
    for name, rates in out["shipped_calibration"].items():
        cells = [f"{k} {v:.4f}" for k, v in rates.items() if isinstance(v, float)]
        print(f"{name} at the shipped calibration: " + ", ".join(cells))
    print(f"refitted: {decisions(out['refitted'])}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
