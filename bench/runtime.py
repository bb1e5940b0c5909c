"""The embedding model and the reader on each RAG_RUNTIME: import and load time, memory, one query, index
throughput, and `ask` over the benchmark questions with the reader off and on.

Each runtime's load and memory are measured in a fresh interpreter, so that imports and memory are its own.
`ask` is measured in one more, which loads both runtimes and asks each question of each in turn: on a
shared machine, figures taken minutes apart differ more than the runtimes do. ``python -m bench.runtime``
prints the tables of README, "Runtime"; the second checks the serving target "`ask` p50 with the reader
on ≤ the query's embedding + the reader's pass + 10 ms", from the same asks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import RUNTIMES, Settings
from rag.types import Candidate, Reading

if TYPE_CHECKING:
    from rag.rankers.reader import SentenceReader

QUESTIONS = Path("benchmarks/questions.jsonl")
COLUMNS = {
    "import_s": "import (s)",
    "load_s": "load (s)",
    "rss_mb": "RSS loaded (MB)",
    "query_p50_ms": "one query p50 (ms)",
    "texts_per_s": "index texts/s",
    "peak_rss_mb": "peak RSS (MB)",
    "reader_load_s": "reader load (s)",
    "reader_rss_mb": "reader RSS (MB)",
}
ASK_COLUMNS = {
    "ask_off_p50_ms": "ask p50, off (ms)",
    "ask_on_p50_ms": "ask p50, on (ms)",
    "embed_p50_ms": "embedding p50 (ms)",
    "read_p50_ms": "reader pass p50 (ms)",
    "over_floor_ms": "on - floor (ms)",
    "rest_p50_ms": "rest p50 (ms)",
}
# What `ask` with the reader on may add to one query embedding and one reader pass (the target).
SLACK_MS = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", choices=(*RUNTIMES, "ask"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_ask() if args.child == "ask" else measure(args.child)))
        return
    rows = {runtime: run_child(runtime) for runtime in RUNTIMES}
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work slows every figure)")
    print(f"{'runtime':<8}" + "".join(f"{title:>20}" for title in COLUMNS.values()))
    for runtime, row in rows.items():
        print(f"{runtime:<8}" + "".join(f"{row[key]:>20}" for key in COLUMNS))
    asked = run_child("ask")
    print(
        f"\n`ask` over {QUESTIONS}, each question of each runtime in turn, load average {os.getloadavg()[0]:.1f}. "
        f"floor = embedding p50 + reader pass p50 (target: on - floor <= {SLACK_MS:.0f} ms); rest p50 = what an "
        "`ask` spends besides its embedding and its reader pass"
    )
    print(f"{'runtime':<8}" + "".join(f"{title:>22}" for title in ASK_COLUMNS.values()))
    for runtime, row in asked.items():
        print(f"{runtime:<8}" + "".join(f"{row[key]:>22}" for key in ASK_COLUMNS))


def run_child(child: str) -> Any:
    env = {**os.environ, "RAG_RUNTIME": child if child in RUNTIMES else os.environ.get("RAG_RUNTIME", "onnx")}
    command = [sys.executable, "-m", "bench.runtime", "--child", child]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(runtime: str) -> dict[str, float]:
    started = time.perf_counter()
    from rag.embedding import load_embedder
    from rag.rankers.reader import reader_for

    if runtime == "onnx":
        import rag.embedding_onnx  # noqa: F401  (what load_embedder imports for it, timed here)
    else:
        import sentence_transformers  # noqa: F401
    imported = time.perf_counter()
    settings = Settings.from_env()
    embedder = load_embedder(settings)
    loaded = time.perf_counter()
    rss = _memory("VmRSS")
    reader_for(dataclasses.replace(settings, reader=True), embedder)
    reader_s = time.perf_counter() - loaded
    reader_mb = _memory("VmRSS") - rss

    questions = _questions()
    embedder.embed(questions[:1], "query")  # the first call sets up buffers; a server pays it once
    query_ms = []
    for question in questions:
        t = time.perf_counter()
        embedder.embed([question], "query")
        query_ms.append((time.perf_counter() - t) * 1000)

    texts = _seed_texts(settings)
    t = time.perf_counter()
    embedder.embed(texts, "passage")
    throughput = len(texts) / (time.perf_counter() - t)
    return {
        "import_s": round(imported - started, 2),
        "load_s": round(loaded - imported, 2),
        "rss_mb": round(rss),
        "query_p50_ms": round(statistics.median(query_ms), 1),
        "texts_per_s": round(throughput, 1),
        "peak_rss_mb": round(_memory("VmHWM")),
        "reader_load_s": round(reader_s, 2),
        "reader_rss_mb": round(reader_mb),
    }


def measure_ask() -> dict[str, dict[str, float]]:
    """`ask` with the reader off and on, on each runtime, each question of each in turn."""
    from rag.embedding import load_embedder
    from rag.pipeline import Pipeline
    from rag.rankers.reader import ReaderRanker, reader_for, verifier_for
    from rag.stores import open_backend

    store = open_backend(Settings.from_env()).open()
    pipelines: dict[str, tuple[Pipeline, Pipeline, TimedReader]] = {}
    for runtime in RUNTIMES:
        settings = Settings.from_env(runtime=runtime, reader=True)
        embedder = load_embedder(settings)
        reader = TimedReader(reader_for(settings, embedder))
        ranker = ReaderRanker(reader, store.documents, settings.reader_candidates)
        on = Pipeline(settings, embedder, store, ranker=ranker, verifier=verifier_for(settings, embedder))
        pipelines[runtime] = (on.variant(reader=False), on, reader)
    ms: dict[str, dict[str, list[float]]] = {r: {"off": [], "on": [], "embed": [], "read": []} for r in RUNTIMES}
    questions = _questions()
    for i, question in enumerate([questions[0], *questions]):  # the first: set-up, not counted
        for runtime in RUNTIMES if i % 2 else RUNTIMES[::-1]:
            off, on, reader = pipelines[runtime]
            for name, pipeline in (("off", off), ("on", on)):
                reader.ms.clear()
                t = time.perf_counter()
                answer = pipeline.ask(question)
                if i:
                    ms[runtime][name].append((time.perf_counter() - t) * 1000)
            if i:
                ms[runtime]["embed"].append(answer.timings_ms["embed"])
                ms[runtime]["read"].append(sum(reader.ms))
    return {runtime: _ask_figures(figures) for runtime, figures in ms.items()}


def _ask_figures(ms: dict[str, list[float]]) -> dict[str, float]:
    p50 = {name: statistics.median(values) for name, values in ms.items()}
    rest = [total - embed - read for total, embed, read in zip(ms["on"], ms["embed"], ms["read"], strict=True)]
    return {
        "ask_off_p50_ms": round(p50["off"], 1),
        "ask_on_p50_ms": round(p50["on"], 1),
        "embed_p50_ms": round(p50["embed"], 1),
        "read_p50_ms": round(p50["read"], 1),
        "over_floor_ms": round(p50["on"] - p50["embed"] - p50["read"], 1),
        "rest_p50_ms": round(statistics.median(rest), 1),
    }


class TimedReader:
    """A reader that records how long each of its passes took, since ``ms`` was last cleared."""

    def __init__(self, reader: SentenceReader | None) -> None:
        assert reader is not None
        self.reader = reader
        self.path, self.threshold, self.uncertain = reader.path, reader.threshold, reader.uncertain
        self.ms: list[float] = []

    def read(self, question: str, passages: Sequence[Candidate]) -> list[Reading]:
        t = time.perf_counter()
        try:
            return self.reader.read(question, passages)
        finally:
            self.ms.append((time.perf_counter() - t) * 1000)


def _questions() -> list[str]:
    return [json.loads(line)["question"] for line in QUESTIONS.read_text("utf-8").splitlines()]


def _seed_texts(settings: Settings) -> list[str]:
    """The seeds' chunks and their sentences: what `rag index --rebuild` embeds."""
    from rag.ingest import chunking
    from rag.ingest.binary import Limits
    from rag.ingest.loading import load_corpus

    corpus = load_corpus([settings.seeds_dir], Limits.from_settings(settings))
    chunks = [
        c for d in corpus.documents for c in chunking.chunk_document(d, settings.chunk_size, settings.chunk_overlap)
    ]
    return [c.text for c in chunks] + [s.text for c in chunks for s in c.sentences]


def _memory(field: str) -> float:
    """A /proc/self/status memory field in MB (VmRSS now, VmHWM the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
