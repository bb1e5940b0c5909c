"""The command line: a thin layer over the library. Domain errors become one line and exit code 1."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

import click

from rag.config import Settings
from rag.errors import ConfigError, RagError

EXIT_CODES = {ConfigError: 2}


class RagGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RagError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_CODES.get(type(exc), 1))


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
    """Show the embedding model in use (provisioning it on first use)."""
    from rag.embedding import load_embedder

    info = load_embedder(settings_from(ctx)).info()
    if as_json:
        echo_json(asdict(info))
        return
    click.echo(f"name:            {info.name}")
    click.echo(f"path:            {info.path}")
    click.echo(f"dimension:       {info.dimension}")
    click.echo(f"max_seq_length:  {info.max_seq_length}")
    for key, prompt in info.prompts.items():
        click.echo(f"prompt {key + ':':<9}{prompt!r}")


@main.command()
@click.option("--host", help="Bind address [RAG_HOST].")
@click.option("--port", type=int, help="Port [RAG_PORT].")
@click.option("--workers", type=int, help="Worker processes [RAG_WORKERS].")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the HTTP API and the web page with uvicorn."""
    import os

    import uvicorn

    base = settings_from(ctx)
    settings = Settings.from_env(host=host, port=port, workers=workers)
    del base
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
