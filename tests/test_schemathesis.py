"""The app against its own OpenAPI schema: generated requests, valid or not, get no 5xx and no off-schema answer."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from embedders import sample_headwords
from fakes import FakePipeline
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import negative_data_rejection

from api.app import create_app
from rag.config import Settings
from rag.text import crosslingual

KEY = "s3cret-key"
EXAMPLES = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# With the key, the write routes run: their files and index go to a folder of their own, never the repository's.
WRITABLE = Path(tempfile.mkdtemp(prefix="rag-schemathesis-"))
atexit.register(shutil.rmtree, WRITABLE, True)
(WRITABLE / "seeds").mkdir()
(WRITABLE / "seeds" / "note.txt").write_text("A note, so that a rebuild has something to index.\n", "utf-8")
KEYED = Settings(api_key=KEY, seeds_dir=WRITABLE / "seeds", index_dir=WRITABLE / "index")


@pytest.fixture(autouse=True)
def small_dictionary(monkeypatch: pytest.MonkeyPatch) -> None:
    # The write routes rebuild the index; the whole CC-CEDICT would cost seconds per build.
    monkeypatch.setattr(crosslingual, "default_headwords", sample_headwords)


open_schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings(), FakePipeline()))
keyed_schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(KEYED, FakePipeline(settings=KEYED)),
    # "apiKey" is the security scheme the app declares once RAG_API_KEY is set.
    config=schemathesis.Config.from_dict({"auth": {"openapi": {"apiKey": {"bearer": KEY}}}}),
)


@open_schema.parametrize()
@EXAMPLES
def test_no_server_errors_and_answers_match_the_schema(case: schemathesis.Case) -> None:
    case.call_and_validate()


@keyed_schema.parametrize()
@EXAMPLES
def test_with_an_api_key_the_same_holds(case: schemathesis.Case) -> None:
    case.call_and_validate(excluded_checks=excluded(case))


def excluded(case: schemathesis.Case) -> list[CheckFunction]:
    # A multipart file is bytes whatever the schema says of its items: a "number" sent as a file's
    # content is a file like any other, which the upload reads (and refuses by its name or content).
    uploading = case.method.upper() == "POST" and case.path == "/documents"
    return [negative_data_rejection] if uploading else []
