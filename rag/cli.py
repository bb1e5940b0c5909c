"""The command line: a thin layer over the library. Domain errors become one line and exit code 1.

The library is imported inside each command: the pipeline pulls in torch, FAISS and jieba (seconds),
which `rag --help` and a mistyped option should not wait for.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from rag.config import MAX_TOP_K, Settings
from rag.errors import BadDocumentError, ConfigError, DocumentNotFoundError, RagError
from rag.types import Document, Hit, Quote

EXIT_CODES: dict[type[RagError], int] = {ConfigError: 2}


class RagGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RagError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_CODES.get(type(exc), 1))


@contextmanager
def _loader_warnings_off() -> Iterator[None]:
    """Without a logging set-up, the loader's warnings reach stderr as they are, besides the command's notes."""
    loader = logging.getLogger("rag.ingest.loading")
    level = loader.level
    loader.setLevel(logging.ERROR)
    try:
        yield
    finally:
        loader.setLevel(level)


def settings_from(ctx: click.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


@click.group(cls=RagGroup)
@click.version_option(package_name="rag")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Ask questions of a document collection; answers are quoted sentences with citations."""
    ctx.obj = Settings.from_env()


def echo_json(payload: Any) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, indent=2))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def model(ctx: click.Context, as_json: bool) -> None:
    """Show the embedding model in use, the reader when RAG_READER or RAG_SHORT_ANSWERS is on and the verifier when
    RAG_VERIFIER is (provisioning them on first use)."""
    from rag.embedding import load_embedder
    from rag.rankers.reader import reader_for, verifier_for

    settings = settings_from(ctx)
    embedder = load_embedder(settings)
    info = embedder.info()
    reader = reader_for(settings, embedder)
    verifier = verifier_for(settings, embedder)
    if as_json:
        echo_json(
            {**asdict(info), "reader": reader.path if reader else None, "verifier": verifier.path if verifier else None}
        )
        return
    click.echo(f"name:            {info.name}")
    click.echo(f"path:            {info.path}")
    click.echo(f"dimension:       {info.dimension}")
    click.echo(f"max_seq_length:  {info.max_seq_length}")
    for key, prompt in info.prompts.items():
        click.echo(f"prompt {key + ':':<9}{prompt!r}")
    if reader:
        click.echo(f"reader:          {reader.path}")
    if verifier:
        click.echo(f"verifier:        {verifier.path}")


@main.command("index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--rebuild",
    is_flag=True,
    help="Rebuild even when the index is up to date, reading every file and embedding every text anew.",
)
@click.pass_context
def index_command(ctx: click.Context, paths: tuple[Path, ...], rebuild: bool) -> None:
    """Build the index of PATHS (files or folders; default RAG_SEEDS_DIR), when it is stale."""
    from rag.freshness import staleness
    from rag.stores import describe_store, open_backend

    settings = settings_from(ctx)
    sources = list(paths) or [settings.seeds_dir]
    for source in sources:
        if not source.exists():
            raise BadDocumentError(f"{source} does not exist")
    backend = open_backend(settings)
    current = backend.manifest()
    reason = staleness(current, settings, sources)
    if reason is None and not rebuild and current is not None:
        click.echo(f"index is up to date: {current.documents} documents, {current.chunks} chunks")
        return
    click.echo(f"building the index ({reason or 'rebuild requested'})", err=True)
    # Only now: the model and the build's text tools take seconds to import, and the index is usually fresh.
    from rag.embedding import load_embedder
    from rag.indexing import build_index, index_elsewhere

    donor = index_elsewhere(settings) if current is None and not rebuild else None
    if donor is not None:
        click.echo("taking the vectors of unchanged text from the index in the other store", err=True)
    embedder = load_embedder(settings)
    with _loader_warnings_off():  # the build's notes below say which files were skipped, and why, once
        built = build_index(settings, embedder, backend, sources, progress=True, reuse=not rebuild, reuse_from=donor)
    manifest = built.manifest
    for note in built.notes:
        click.echo(note, err=True)
    click.echo(built.changes.summary(), err=True)
    click.echo(
        f"{manifest.documents} documents, {manifest.chunks} chunks, {manifest.skipped} skipped "
        f"in {manifest.build_seconds:.1f}s -> {describe_store(settings)}"
    )


@main.command()
@click.argument("doc_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def docs(ctx: click.Context, doc_id: str | None, as_json: bool) -> None:
    """List the indexed documents, or print one document's clean text."""
    from rag.serialize import document_to_dict
    from rag.stores import open_backend

    documents = open_backend(settings_from(ctx)).open().documents.documents
    if doc_id is not None:
        if doc_id not in documents:
            raise DocumentNotFoundError(f"no document with doc_id {doc_id!r}; `rag docs` lists them")
        doc = documents[doc_id]
        if as_json:
            echo_json(document_to_dict(doc, with_text=True))
        else:
            click.echo(doc.text)
        return
    rows = [document_to_dict(d, with_text=False) for d in sorted(documents.values(), key=lambda d: d.source_file)]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['doc_id']}  {row['published'] or '-':<19}  {row['language']}  {row['chars']:>6} chars")
        click.echo(f"    {row['title']}")
        click.echo(f"    {row['author'] or '-'} | {row['url'] or row['source_file']}")


@main.command()
@click.argument("query")
@click.option("--top-k", type=click.IntRange(1, MAX_TOP_K), help="How many sources [RAG_TOP_K, default 5].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, as GET /search returns it.")
@click.pass_context
def search(ctx: click.Context, query: str, top_k: int | None, as_json: bool) -> None:
    """Show the passages that dense and keyword search, fused, rank highest for QUERY."""
    from rag.pipeline import Pipeline
    from rag.serialize import hit_to_dict

    pipeline = Pipeline.from_settings(settings_from(ctx))
    hits = pipeline.search(query, top_k)
    if as_json:
        echo_json({"query": query, "passages": [hit_to_dict(h, pipeline.store.documents.documents) for h in hits]})
        return
    for hit in hits:
        doc = pipeline.document(hit.chunk.doc_id)
        ranked = "  ".join(f"{name} {_ranked(hit, name)}" for name in ("dense", "sentence", "keyword"))
        click.echo(f"{hit.rank}. {hit.chunk.chunk_id}  fused {hit.score:.4f}  {ranked}")
        click.echo(f"   {doc.title} [{hit.chunk.start}:{hit.chunk.end}]")
        click.echo(f"   {_one_line(hit.chunk.text, 160)}")


@main.command()
@click.argument("question")
@click.option("--top-k", type=click.IntRange(1, MAX_TOP_K), help="How many sources [RAG_TOP_K, default 5].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, exactly as POST /ask returns it.")
@click.pass_context
def ask(ctx: click.Context, question: str, top_k: int | None, as_json: bool) -> None:
    """Answer QUESTION with quoted sentences from the documents, each with its citation."""
    from rag.pipeline import Pipeline
    from rag.serialize import answer_to_dict

    pipeline = Pipeline.from_settings(settings_from(ctx))
    answer = pipeline.ask(question, top_k)
    if as_json:
        echo_json(answer_to_dict(answer, pipeline.store.documents.documents))
        return
    if answer.grade == "not_covered":
        click.echo("The documents do not cover this question. The closest passages:")
        for hit in answer.hits:
            doc = pipeline.document(hit.chunk.doc_id)
            click.echo(f"  - {doc.title}: {_one_line(hit.chunk.text, 120)}")
        return
    if answer.grade == "uncertain":
        click.echo("These sources may not answer the question:")
    if answer.confidence is not None:
        click.echo(f"confidence {answer.confidence:.2f}")
    for i, source in enumerate(answer.sources, start=1):
        doc = source.document
        click.echo(f"{i}. {doc.title} ({(doc.published or 'undated')[:10]}) {doc.url or doc.source_file}")
        for quote in source.quotes:
            _echo_quote(quote, doc)


def _echo_quote(quote: Quote, doc: Document) -> None:
    """The quote with its citation, the sentences around it dimmed (plain text when not a terminal)."""
    ev, c = quote.evidence, quote.evidence.citation
    short = ""
    if ev.answer_start is not None and ev.answer_end is not None:
        short = f"  [answer: {doc.text[ev.answer_start : ev.answer_end]}]"
    if quote.before:
        click.echo(click.style(f"   …{_one_line(quote.before.text, 100)}", dim=True))
    page = f" p. {c.page}" if c.page is not None else ""
    click.echo(f"   “{ev.text}”{short} [{c.start}:{c.end}]{page}")
    if quote.after:
        click.echo(click.style(f"   {_one_line(quote.after.text, 100)}…", dim=True))


@main.command("eval")
@click.option(
    "--questions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    default=[Path("benchmarks/questions.jsonl")],
    show_default=True,
    help="A JSON-lines question file (format in the README); given more than once, one summary row per file.",
)
@click.option(
    "--squad",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Instead: a SQuAD-style JSON file; its paragraphs are indexed as documents and its questions asked.",
)
@click.option(
    "--questions-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --squad: ask the questions of this file instead (same question ids, e.g. another XQuAD language).",
)
@click.option("--articles", default=":", show_default=True, help="With --squad: which articles, as START:END.")
@click.option("--split-articles", is_flag=True, help="With --squad: leave every other article out of the index.")
@click.option(
    "--whole-articles", is_flag=True, help="With --squad: index each article as one document, not each paragraph."
)
@click.option("--top-k", type=click.IntRange(1, MAX_TOP_K), help="How many sources [RAG_TOP_K, default 5].")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("reports/eval.json"),
    show_default=True,
    help="Where to write the JSON report.",
)
@click.option("--ablation/--no-ablation", default=True, help="Also run dense only, keyword only, no diversification.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of tables.")
@click.pass_context
def eval_command(
    ctx: click.Context,
    questions: tuple[Path, ...],
    squad: Path | None,
    questions_from: Path | None,
    articles: str,
    split_articles: bool,
    whole_articles: bool,
    top_k: int | None,
    output: Path,
    ablation: bool,
    as_json: bool,
) -> None:
    """Measure retrieval and answers on labelled question sets, or on a SQuAD-style file."""
    from rag.evaluation.report import evaluation_report, render_report, render_sets
    from rag.pipeline import Pipeline

    settings = settings_from(ctx)
    top_k = top_k or settings.top_k
    if squad is not None:
        report = _squad_report(settings, squad, questions_from, articles, split_articles, whole_articles, top_k)
        text = _squad_table(report)
    elif len(questions) == 1:
        report = evaluation_report(Pipeline.from_settings(settings), questions[0], top_k, ablation)
        text = render_report(report)
    else:
        pipeline = Pipeline.from_settings(settings)
        report = {"sets": {str(path): evaluation_report(pipeline, path, top_k, ablation) for path in questions}}
        text = render_sets(report["sets"])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
    if as_json:
        echo_json(report)
        return
    click.echo(text)
    click.echo(f"\nreport written to {output}")


def _squad_report(
    settings: Settings,
    squad: Path,
    questions_from: Path | None,
    articles: str,
    split: bool,
    whole: bool,
    top_k: int,
) -> dict[str, Any]:
    from rag.embedding import load_embedder
    from rag.evaluation.squad import evaluate_squad, opener
    from rag.training.squad import load_squad

    chosen = load_squad(squad)[_slice(articles)]
    asked_as = None
    if questions_from is not None:
        asked_as = {qa.qid: qa.question for a in load_squad(questions_from) for p in a.paragraphs for qa in p.qas}
    figures = evaluate_squad(chosen, asked_as, split, opener(settings, load_embedder(settings)), top_k, whole)
    return {
        "squad": str(squad),
        "questions_from": str(questions_from or squad),
        "articles": articles,
        "split_articles": split,
        "whole_articles": whole,
        "reader": settings.reader,
        "short_answers": settings.short_answers and not settings.reader,
        "verifier": settings.verifier and not settings.reader,
        **figures,
    }


def _slice(spec: str) -> slice:
    try:
        start, _, end = spec.partition(":")
        return slice(int(start) if start else None, int(end) if end else None)
    except ValueError:
        raise click.BadParameter(f"'{spec}' is not START:END", param_hint="--articles") from None


def _squad_table(report: dict[str, Any]) -> str:
    """The figures, one per line; the per-question rows are in the JSON report only."""
    figures = {key: value for key, value in report.items() if key != "per_question"}
    width = max(map(len, figures))
    return "\n".join(f"{key:>{width}}  {value}" for key, value in figures.items())


def _ranked(hit: Hit, retriever: str) -> str:
    found = hit.ranked_by(retriever)
    return "-" if found is None else f"{found[1]:.3f}#{found[0]}"


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "\u2026"


@main.command()
@click.option("--host", help="Bind address [RAG_HOST].")
@click.option("--port", type=int, help="Port [RAG_PORT].")
@click.option("--workers", type=int, help="Worker processes [RAG_WORKERS].")
@click.option(
    "--update-index",
    is_flag=True,
    help="First bring the index of RAG_SEEDS_DIR up to date, as `rag index` does (in the same process: sooner).",
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None, update_index: bool) -> None:
    """Serve the HTTP API and the web page with uvicorn."""
    import os

    if update_index:
        ctx.invoke(index_command, paths=(), rebuild=False)
    import uvicorn

    settings = Settings.from_env(host=host, port=port, workers=workers)
    # Workers are separate processes: they read settings from the environment again.
    os.environ.update({"RAG_HOST": settings.host, "RAG_PORT": str(settings.port)})
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="info",
    )


if __name__ == "__main__":
    sys.exit(main())
