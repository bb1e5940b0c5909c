"""The FastAPI application factory: settings, pipeline, middleware, routes, the page and the docs, wired once."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.admin_routes import UPLOAD_PATH, document_upload_limit
from api.admin_routes import router as admin_router
from api.deps import QA, PipelineSlot, load_pipeline
from api.errors import install_handlers
from api.metrics import Metrics, MetricsMiddleware
from api.routes import STATIC_DIR, router
from api.security import BearerAuth, BodyLimit, document_bearer
from rag import __version__
from rag.config import Settings
from rag.errors import IndexMissingError, IndexStaleError, RagError, StoreUnavailableError
from rag.ingest.isolation import MB
from rag.library import Library

logger = logging.getLogger("api")

DOCS_ASSETS = "/docs/assets"

Loader = Callable[[Settings], QA]


def create_app(
    settings: Settings | None = None, pipeline: QA | None = None, *, loader: Loader = load_pipeline
) -> FastAPI:
    """The app; with no ``pipeline`` it is loaded in the background at startup, and /readyz says when it is."""
    settings = settings or Settings.from_env()
    slot, metrics = PipelineSlot(), Metrics()
    if pipeline is not None:
        _fill(slot, metrics, pipeline)
    swagger = swagger_assets()
    app = FastAPI(
        title="rag",
        summary="Extractive answers with checkable citations, in English and Chinese.",
        version=__version__,
        lifespan=_lifespan(settings, slot, metrics, loader),
        docs_url=None if swagger else "/docs",
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.settings, app.state.pipeline_slot, app.state.metrics = settings, slot, metrics
    app.state.library = Library(settings, slot.get, lambda new: _fill(slot, metrics, new))
    install_handlers(app)
    app.include_router(router)
    app.include_router(admin_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if swagger:
        _serve_docs(app, swagger)
    else:
        logger.warning("swagger-ui-py is not installed: /docs loads Swagger UI from a CDN")
    _document(app, settings)
    # Added innermost first: metrics see every request, then auth, then the size limit.
    app.add_middleware(BodyLimit, uploads={UPLOAD_PATH: round(settings.max_upload_mb * MB)})
    app.add_middleware(BearerAuth, api_key=settings.api_key)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=[*router.routes, *app.routes])
    return app


def swagger_assets() -> Path | None:
    """Swagger UI's files from the swagger-ui-py package, so /docs works offline; None if it is absent."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    assets = Path(next(iter(spec.submodule_search_locations))) / "static"
    return assets if (assets / "swagger-ui-bundle.js").is_file() else None


def _serve_docs(app: FastAPI, assets: Path) -> None:
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )


def _document(app: FastAPI, settings: Settings) -> None:
    """What the schema says that depends on the settings: the upload's file count and, with a key, the key."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        # Both idempotent; FastAPI may rebuild the schema it caches.
        document_upload_limit(schema, settings.max_upload_files)
        if settings.api_key:
            document_bearer(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _lifespan(
    settings: Settings, slot: PipelineSlot, metrics: Metrics, loader: Loader
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # In the background: the server answers /healthz, and /readyz says "loading", while the model loads.
        tasks = [] if slot.pipeline is not None else [asyncio.create_task(_load(settings, slot, metrics, loader))]
        if settings.reload_seconds > 0:
            tasks.append(asyncio.create_task(_follow(settings, slot, metrics, loader)))
        yield
        for task in tasks:
            task.cancel()

    return lifespan


async def _load(settings: Settings, slot: PipelineSlot, metrics: Metrics, loader: Loader) -> None:
    try:
        pipeline = await asyncio.to_thread(loader, settings)
    except RagError as exc:
        logger.error("not ready: %s", exc)
        slot.fail(exc)
        return
    except Exception as exc:
        # A bug, not a state of the index: log it in full and let /readyz name it.
        logger.exception("loading the pipeline failed")
        slot.fail(RagError(f"loading failed with {type(exc).__name__}: {exc}"))
        return
    _fill(slot, metrics, pipeline)
    logger.info(
        "ready: %d documents, %d chunks, model %s", pipeline.document_count, pipeline.chunk_count, pipeline.model_name
    )


# A load that failed on these is retried: the index may be built, or the engine come up, meanwhile.
RETRIED = (IndexMissingError, IndexStaleError, StoreUnavailableError)


async def _follow(settings: Settings, slot: PipelineSlot, metrics: Metrics, loader: Loader) -> None:
    """Every RAG_RELOAD_SECONDS: swap in an index rebuilt since this one opened (by `rag index`, another
    worker or another replica), and retry a load that found no index or no engine."""
    while True:
        await asyncio.sleep(settings.reload_seconds)
        pipeline = slot.pipeline
        try:
            if pipeline is None:
                if isinstance(slot.error, RETRIED):
                    await _load(settings, slot, metrics, loader)
            elif await asyncio.to_thread(pipeline.behind):
                _fill(slot, metrics, await asyncio.to_thread(pipeline.reopen))
                logger.info("swapped in the rebuilt index: %d documents", slot.get().document_count)
        except RagError as exc:
            logger.warning("keeping the index in service: %s", exc)
        except Exception:
            logger.exception("looking for a rebuilt index failed; keeping the index in service")


def _fill(slot: PipelineSlot, metrics: Metrics, pipeline: QA) -> None:
    slot.fill(pipeline)
    metrics.loaded(pipeline)
