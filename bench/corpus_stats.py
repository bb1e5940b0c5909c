"""Per document: characters before and after cleaning, and chunk counts and sizes per chunk size."""

from __future__ import annotations

import statistics

from rag.config import Settings
from rag.ingest.chunking import chunk_document
from rag.ingest.loading import decode, load_corpus

CHUNK_SIZES = (200, 300, 400, 600)


def main() -> None:
    settings = Settings.from_env()
    corpus = load_corpus([settings.seeds_dir])
    print(f"seeds: {settings.seeds_dir}, chunk overlap {settings.chunk_overlap}")
    print(f"{'document':<24}{'raw':>7}{'clean':>7}{'kept':>6}", end="")
    for size in CHUNK_SIZES:
        print(f"  {f'size {size}: n min/med/max':>27}", end="")
    print()
    for doc in corpus.documents:
        raw = len(decode((settings.seeds_dir / doc.source_file).read_bytes()))
        print(f"{doc.doc_id:<24}{raw:>7}{len(doc.text):>7}{len(doc.text) / raw:>6.0%}", end="")
        for size in CHUNK_SIZES:
            lengths = [len(c.text) for c in chunk_document(doc, size, min(settings.chunk_overlap, size - 1))]
            print(f"  {len(lengths):>9} {min(lengths):>5}/{statistics.median(lengths):>5.0f}/{max(lengths):>5}", end="")
        print()
    for skipped in (*corpus.skipped, *corpus.duplicates):
        print(f"skipped {skipped.path}: {skipped.reason}")


if __name__ == "__main__":
    main()
