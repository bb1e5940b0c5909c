"""The HTTP layer: FastAPI app, schemas and the static web page."""
