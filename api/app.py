"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from rag.config import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    app = FastAPI(title="rag", summary="Extractive answers with citations")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
