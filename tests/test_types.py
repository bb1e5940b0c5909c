from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from rag.types import Document


def _paged(page_starts: tuple[int, ...]) -> Document:
    return Document("d", "d.pdf", "T", None, None, None, "en", "x" * 30, page_starts=page_starts)


@pytest.mark.parametrize(
    ("offset", "page"),
    [
        pytest.param(0, 1, id="first-character"),
        pytest.param(9, 1, id="end-of-page-1"),
        pytest.param(10, 3, id="page-2-is-empty"),
        pytest.param(25, 4, id="last-page"),
    ],
)
def test_page_at_counts_from_one_and_passes_empty_pages(offset: int, page: int) -> None:
    assert _paged((0, 10, 10, 20)).page_at(offset) == page


def test_a_document_without_pages_has_no_page() -> None:
    assert _paged(()).page_at(5) is None


def test_a_document_comes_back_from_json_the_same() -> None:
    # Indexes store documents with asdict and JSON, which turns the tuple into a list.
    document = _paged((0, 10, 20))
    again = Document(**json.loads(json.dumps(asdict(document))))
    assert again == document and hash(again) == hash(document)


def test_a_document_stored_before_pages_existed_still_loads() -> None:
    stored = {k: v for k, v in asdict(_paged(())).items() if k != "page_starts"}
    assert Document(**stored).page_starts == ()
