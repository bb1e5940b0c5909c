"""Per-stage latency of `ask` over the benchmark questions, plus model and index load times."""

from __future__ import annotations

import dataclasses
import resource
import statistics
import time
from pathlib import Path

from bench.machine import describe
from rag.config import Settings
from rag.embedding import load_embedder
from rag.evaluation.metrics import load_questions
from rag.pipeline import Pipeline
from rag.rankers.reader import ReaderRanker, reader_for, verifier_for
from rag.stores import open_backend

QUESTIONS = Path("benchmarks/questions.jsonl")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    print(f"machine: {describe()}")
    settings = Settings.from_env()
    started = time.perf_counter()
    embedder = load_embedder(settings)
    model_s = time.perf_counter() - started
    started = time.perf_counter()
    store = open_backend(settings).open()
    index_s = time.perf_counter() - started
    started = time.perf_counter()
    reader = reader_for(settings, embedder)
    reader_s = time.perf_counter() - started
    ranker = ReaderRanker(reader, store.documents, settings.reader_candidates) if reader else None
    pipeline = Pipeline(settings, embedder, store, ranker=ranker, verifier=verifier_for(settings, embedder))
    print(
        f"model load {model_s:.2f}s, reader load {reader_s:.2f}s, index load {index_s:.2f}s, "
        f"index build {store.manifest.build_seconds:.1f}s"
    )
    print(
        f"corpus: {store.manifest.documents} documents, {store.manifest.chunks} chunks, "
        f"{store.manifest.sentences} sentences"
    )

    embed_ms = []
    for _ in range(50):
        t = time.perf_counter()
        embedder.embed(["How much did it cost to train DeepSeek V3?"], "query")
        embed_ms.append((time.perf_counter() - t) * 1000)
    print(f"embed one query: median {statistics.median(embed_ms):.1f} ms over 50 runs")

    questions = load_questions(QUESTIONS)
    variants = [(f"reader on, {settings.reader_candidates} candidates", pipeline)] if reader else []
    variants.append(("reader off", pipeline.variant(reader=False)))
    fast = dataclasses.replace(settings, confidence=False)
    variants.append(("reader off, RAG_CONFIDENCE=off", Pipeline(fast, embedder, store, verifier=pipeline.verifier)))
    for name, variant in variants:
        stages: dict[str, list[float]] = {}
        for q in questions:
            for stage, ms in variant.ask(q.question).timings_ms.items():
                stages.setdefault(stage, []).append(ms)
        print(f"\nask() over {len(questions)} questions, {name} (ms):")
        print(f"{'stage':<10}{'median':>10}{'p95':>10}")
        for stage, values in stages.items():
            print(f"{stage:<10}{statistics.median(values):>10.2f}{percentile(values, 0.95):>10.2f}")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
