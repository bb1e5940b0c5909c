"""The embedding model on each RAG_RUNTIME: import and load time, memory, one query, index throughput.

Each runtime runs in a fresh interpreter, so that imports and memory are its own:
``python -m bench.runtime`` prints the table of README, "Runtime".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rag.config import RUNTIMES, Settings

QUESTIONS = Path("benchmarks/questions.jsonl")
COLUMNS = {
    "import_s": "import (s)",
    "load_s": "load (s)",
    "rss_mb": "RSS loaded (MB)",
    "query_p50_ms": "one query p50 (ms)",
    "texts_per_s": "index texts/s",
    "peak_rss_mb": "peak RSS (MB)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", choices=RUNTIMES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    rows = {runtime: run_child(runtime) for runtime in RUNTIMES}
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work slows every figure)")
    print(f"{'runtime':<8}" + "".join(f"{title:>20}" for title in COLUMNS.values()))
    for runtime, row in rows.items():
        print(f"{runtime:<8}" + "".join(f"{row[key]:>20}" for key in COLUMNS))


def run_child(runtime: str) -> dict[str, float]:
    env = {**os.environ, "RAG_RUNTIME": runtime}
    command = [sys.executable, "-m", "bench.runtime", "--child", runtime]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(runtime: str) -> dict[str, float]:
    started = time.perf_counter()
    from rag.embedding import load_embedder

    if runtime == "onnx":
        import rag.embedding_onnx  # noqa: F401  (what load_embedder imports for it, timed here)
    else:
        import sentence_transformers  # noqa: F401
    imported = time.perf_counter()
    settings = Settings.from_env()
    embedder = load_embedder(settings)
    loaded = time.perf_counter()
    rss = _memory("VmRSS")

    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text("utf-8").splitlines()]
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
    }


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
