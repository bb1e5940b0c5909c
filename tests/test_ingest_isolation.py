from __future__ import annotations

import os
import time

import pytest

from rag.errors import BadDocumentError
from rag.ingest.isolation import MB, run_isolated


def _fail(_raw: bytes) -> None:
    raise BadDocumentError("corrupt PDF (bad xref)")


def test_the_result_comes_back_from_the_child() -> None:
    assert run_isolated(lambda raw: raw.decode().upper(), b"abc", seconds=10, memory_bytes=512 * MB) == "ABC"


def test_a_parser_that_runs_over_time_is_stopped() -> None:
    started = time.monotonic()
    with pytest.raises(BadDocumentError, match=r"took longer than 0.5 s to read \(stopped\)"):
        run_isolated(lambda _: time.sleep(60), b"", seconds=0.5, memory_bytes=512 * MB)
    assert time.monotonic() - started < 10


def test_a_parser_that_allocates_without_end_is_stopped() -> None:
    with pytest.raises(BadDocumentError, match="needs more than 256 MB of memory to read"):
        run_isolated(lambda _: bytearray(4096 * MB), b"", seconds=10, memory_bytes=256 * MB)


@pytest.mark.parametrize(
    ("parse", "reason"),
    [
        pytest.param(_fail, "corrupt PDF (bad xref)", id="refused"),
        pytest.param(lambda raw: raw[10], "unreadable (IndexError: index out of range)", id="raised"),
        pytest.param(lambda _: os._exit(3), "the reader stopped with exit code 3", id="died"),
    ],
)
def test_whatever_goes_wrong_in_the_child_comes_back_as_a_reason(parse: object, reason: str) -> None:
    with pytest.raises(BadDocumentError) as refused:
        run_isolated(parse, b"", seconds=10, memory_bytes=512 * MB)  # type: ignore[arg-type]
    assert str(refused.value) == reason
