"""The reader's quality against its speed: both question sets with the reader off, with the reader marking short
answers only (RAG_SHORT_ANSWERS) and reading 8, 16 or 32 candidate sentences, with the median and p95 of `ask` in
the same run (`python -m bench.reader`)."""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from pathlib import Path

from bench.machine import describe
from rag.config import Settings
from rag.embedding import load_embedder
from rag.evaluation.metrics import load_questions, run, summarize
from rag.pipeline import Pipeline
from rag.rankers.reader import ReaderRanker, reader_for, verifier_for
from rag.stores import open_backend

SETS = {"benchmark": Path("benchmarks/questions.jsonl"), "held-out": Path("benchmarks/heldout.jsonl")}
COLUMNS = (
    "evidence_hit",
    "disputed_source_coverage",
    "no_answer_true_rate",
    "no_answer_false_rate",
    "disputed_grouped_coverage",
    "answerable_not_covered",
    "unanswerable_not_covered",
)


def main(candidates: tuple[int, ...] = (8, 16, 32)) -> None:
    settings = Settings.from_env()
    embedder = load_embedder(settings)
    store = open_backend(settings).open()
    reader = reader_for(dataclasses.replace(settings, reader=True), embedder)
    verifier = verifier_for(settings, embedder)
    variants: list[tuple[str, Pipeline]] = [("reader off", Pipeline(settings, embedder, store, verifier=verifier))]
    if reader:
        short = Pipeline(settings, embedder, store, marker=reader, verifier=verifier)
        variants.append(("short answers only", short))
    for n in candidates:
        ranker = ReaderRanker(reader, store.documents, n) if reader else None
        variants.append(
            (f"reader, {n} candidates", Pipeline(settings, embedder, store, ranker=ranker, verifier=verifier))
        )
    header = f"{'variant':<24}{'set':<11}" + "".join(f"{c[:14]:>16}" for c in COLUMNS) + f"{'p50 ms':>9}{'p95 ms':>9}"
    print(f"machine: {describe()}")
    print(header)
    for name, pipeline in variants:
        for set_name, path in SETS.items():
            questions = load_questions(path)
            took: list[float] = []

            def ask(question: str, pipeline: Pipeline = pipeline, took: list[float] = took):  # type: ignore[no-untyped-def]
                started = time.perf_counter()
                answer = pipeline.ask(question, 5, passages=10)
                took.append((time.perf_counter() - started) * 1000)
                return answer

            summary = summarize(run(questions, ask, store.documents.documents))
            cells = "".join(f"{float(summary[c]):>16.3f}" for c in COLUMNS)
            p95 = sorted(took)[round(0.95 * (len(took) - 1))]
            print(f"{name:<24}{set_name:<11}{cells}{statistics.median(took):>9.0f}{p95:>9.0f}", flush=True)


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (8, 16, 32))
