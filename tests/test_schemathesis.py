"""The app against its own OpenAPI schema: generated requests, valid or not, get no 5xx and no off-schema answer."""

from __future__ import annotations

import schemathesis
from fakes import FakePipeline
from hypothesis import HealthCheck, settings

from api.app import create_app
from rag.config import Settings

KEY = "s3cret-key"
EXAMPLES = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

open_schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings(), FakePipeline()))
keyed_schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(Settings(api_key=KEY), FakePipeline()),
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
    case.call_and_validate()
