"""`make bench-scale`: the embedded Qdrant engine at 100k and 1M chunks, hybrid search as the service runs it.

For each size it builds a collection like the service's chunk collection (a dense vector and a sparse
BM25 keyword vector per point), then reports insert throughput, the p50 and p95 of a hybrid search
(dense and keyword searches fused by our RRF), dense recall@10 against exact search (200 queries drawn
as the data were and not stored), peak memory and disk. Vectors:

- ``--vectors real``: e5 vectors of the public data sets' passages, sentences and questions
  (../shared/datasets, about 70k texts; paragraphs cut into 300-character passages as the service
  cuts them), embedded once and cached under ~/.cache/rag/scale/. Sizes above
  what they hold are filled with synthetic points clustered around them (a real vector plus noise).
- ``--vectors synthetic``: clustered unit vectors, 384-d, close to uniform (the hardest case for HNSW).

Keyword terms are synthetic (Zipf) in both. Say which vectors any figure you quote used.

    python -m bench.scale --sizes 100000 1000000 --m 16 --ef-construct 100 --ef 64 128
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.retrieval.fusion import reciprocal_rank_fusion
from rag.stores.qdrant import bm25_vectors, query_vector
from rag.stores.qdrant_engines import Collection, EdgeEngine, Point

DIMENSION = 384
QUERIES = 200
CLUSTERS = 1000
FILL_NOISE = 0.4  # a filler point is a real vector moved by this much (cosine about 0.93)
VOCABULARY = 50_000
TERMS_PER_CHUNK = 40
SHARD = 2000
CACHE = Path.home() / ".cache" / "rag" / "scale"


def _noise(rng: np.random.Generator, n: int, norm: float) -> np.ndarray:
    """Gaussian noise whose vectors have about this norm (next to unit vectors)."""
    return np.asarray(norm / np.sqrt(DIMENSION) * rng.normal(size=(n, DIMENSION)), dtype=np.float32)


def synthetic(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLUSTERS, DIMENSION)).astype(np.float32)
    vectors = centres[rng.integers(0, CLUSTERS, n)] + 0.6 * rng.normal(size=(n, DIMENSION)).astype(np.float32)
    return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), dtype=np.float32)


def real(n: int, embed: bool = True) -> np.ndarray:
    base = _embed_datasets(embed)
    print(f"vectors: {min(n, len(base)):,} real e5, {max(0, n - len(base)):,} clustered around them", flush=True)
    if n <= len(base):
        return base[:n]
    rng = np.random.default_rng(1)
    extra = base[rng.integers(0, len(base), n - len(base))] + _noise(rng, n - len(base), FILL_NOISE)
    extra = (extra / np.linalg.norm(extra, axis=1, keepdims=True)).astype(np.float32)
    return np.concatenate([base, extra])


def _embed_datasets(embed: bool) -> np.ndarray:
    """The data sets' texts embedded, in parts of SHARD texts cached as they finish: a stopped run resumes.
    Without ``embed``, only the parts already cached."""
    from rag.config import Settings
    from rag.embedding import load_embedder
    from rag.ingest.chunking import split_sentences
    from rag.training.squad import load_squad

    root = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    texts: list[str] = []
    for path in sorted(root.glob("*/*.json")):
        for article in load_squad(path):
            for paragraph in article.paragraphs:
                sentences = [s.text for s in split_sentences(paragraph.context)]
                texts.extend(_chunks_of(sentences))  # passages as the service cuts them
                texts.extend(sentences)
                texts.extend(qa.question for qa in paragraph.qas)
    CACHE.mkdir(parents=True, exist_ok=True)
    parts = []
    embedder = None
    for start in range(0, len(texts), SHARD):
        part = CACHE / f"datasets-e5-{start:06d}-{len(texts)}.npy"
        if not part.exists():
            if not embed:
                continue
            if embedder is None:
                print(f"embedding {len(texts)} passages, sentences and questions of {root} into {CACHE}")
                embedder = load_embedder(Settings.from_env())
            print(f"  texts {start}-{min(len(texts), start + SHARD)}", flush=True)
            np.save(part, embedder.embed(texts[start : start + SHARD], "passage"))
        parts.append(np.load(part))
    return np.concatenate(parts)


def _chunks_of(sentences: list[str], size: int = 300) -> list[str]:
    """Consecutive sentences joined up to ``size`` characters (RAG_CHUNK_SIZE's default)."""
    chunks: list[str] = []
    for sentence in sentences:
        if chunks and len(chunks[-1]) + len(sentence) <= size:
            chunks[-1] += sentence
        else:
            chunks.append(sentence)
    return chunks


def keyword_ranks(n: int, seed: int = 2) -> np.ndarray:
    """Per chunk, TERMS_PER_CHUNK Zipf-distributed term ranks (kept as numbers: strings for 1M chunks
    would take gigabytes)."""
    rng = np.random.default_rng(seed)
    return np.minimum(rng.zipf(1.3, size=(n, TERMS_PER_CHUNK)), VOCABULARY)


def _terms(row: np.ndarray) -> list[str]:
    return [f"t{r}" for r in row]


def run(size: int, vectors: np.ndarray, queries: np.ndarray, m: int, ef_construct: int, efs: list[int]) -> None:
    root = Path(tempfile.mkdtemp(prefix="rag-scale-"))
    try:
        engine = EdgeEngine(root, hnsw=(m, ef_construct))
        ranks = keyword_ranks(size)
        started = time.perf_counter()
        engine.create("chunks", Collection({"dense": DIMENSION}, ["keywords"]))
        for start in range(0, size, 10_000):
            stop = min(size, start + 10_000)
            # Every chunk has TERMS_PER_CHUNK terms, so a slice's average length is the corpus's.
            sparse = bm25_vectors([_terms(row) for row in ranks[start:stop]])
            points = [
                Point(i, {"dense": vectors[i].tolist(), "keywords": sparse[i - start]}, {"chunk": i})
                for i in range(start, stop)
            ]
            engine.upsert("chunks", points)
        inserted = time.perf_counter() - started
        engine.seal("chunks")
        built = time.perf_counter() - started
        rng = np.random.default_rng(3)
        picks = rng.integers(0, size, len(queries))
        terms = [_terms(ranks[i][:3]) for i in picks]
        exact = [set(np.argsort(-(vectors @ q))[:10].tolist()) for q in queries]
        disk = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 2**20
        print(
            f"\n{size:>9,} chunks, m={m} ef_construct={ef_construct}: insert {size / inserted:,.0f}/s, "
            f"index built in {built:.0f}s, disk {disk:,.0f} MiB",
            flush=True,
        )
        for ef in efs:
            engine.hnsw_ef = ef
            latencies, recalls = [], []
            for q, t, truth in zip(queries, terms, exact, strict=True):
                t0 = time.perf_counter()
                dense = engine.search("chunks", "dense", q.tolist(), 50)
                keyword = engine.search("chunks", "keywords", query_vector(t), 50)
                reciprocal_rank_fusion([[i for i, _ in dense], [i for i, _ in keyword]], 60, [1.0, 3.0])
                latencies.append((time.perf_counter() - t0) * 1000)
                recalls.append(len(truth & {i for i, _ in dense[:10]}) / 10)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"  hnsw_ef={ef:>4}: hybrid p50 {np.percentile(latencies, 50):.1f} ms, "
                f"p95 {np.percentile(latencies, 95):.1f} ms, dense recall@10 {np.mean(recalls):.3f}, "
                f"peak RSS {rss:,.0f} MiB",
                flush=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--vectors", choices=["synthetic", "real"], default="synthetic")
    parser.add_argument("--cached-only", action="store_true", help="real: only the vectors already embedded")
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construct", type=int, default=100)
    parser.add_argument("--ef", type=int, nargs="+", default=[64, 128])
    args = parser.parse_args()
    for size in args.sizes:
        if args.vectors == "synthetic":
            print("vectors: synthetic, clustered", flush=True)
        # Queries are drawn as the data were and are not stored: the last QUERIES rows.
        drawn = real(size + QUERIES, not args.cached_only) if args.vectors == "real" else synthetic(size + QUERIES)
        vectors, queries = drawn[:size], drawn[size:]
        run(size, vectors, queries, args.m, args.ef_construct, args.ef)


if __name__ == "__main__":
    main()
