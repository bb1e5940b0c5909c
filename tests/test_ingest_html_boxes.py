"""Metadata boxes read into fields and taken out of the page (rag.ingest.html_boxes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.ingest.loading import load_document
from rag.types import Document

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED_FILES = {path.name[:3]: path for path in SEEDS.glob("*.txt")}


@pytest.fixture(scope="module")
def seeds() -> dict[str, Document]:
    return {seed: load_document(path) for seed, path in SEED_FILES.items()}


def test_metadata_box_does_not_split_the_paragraphs_around_it(seeds: dict[str, Document]) -> None:
    paragraphs = seeds["001"].text.split("\n\n")
    before = next(i for i, p in enumerate(paragraphs) if p.startswith("“蒸馏技术”不是近年来的新发明"))
    assert paragraphs[before + 1].startswith("显然，Deepseek不是")


def test_a_metadata_box_in_html_becomes_fields(tmp_path: Path) -> None:
    page = (
        "<html><body><article><p>First paragraph of the story.</p>"
        '<div class="card"><div>Info</div><div><b>Title:</b> Real title<br><b>Author:</b> Jane Roe<br>'
        "<b>Date:</b> 2024-05-06</div></div><p>Second paragraph.</p></article>"
        '<div class="share-buttons"><a href="https://x.example/share">Share</a></div></body></html>'
    )
    (tmp_path / "story.html").write_text(page, encoding="utf-8")
    doc = load_document(tmp_path / "story.html")
    assert (doc.title, doc.author, doc.published) == ("Real title", "Jane Roe", "2024-05-06")
    assert doc.text == "First paragraph of the story.\n\nSecond paragraph."
    assert doc.language == "en"


def test_a_box_in_wrappers_is_found_and_the_wrappers_go_with_it(tmp_path: Path) -> None:
    box = "<div><b>Title:</b> Real title<br><b>Author:</b> Jane Roe<br><b>Date:</b> 2024-05-06</div>"
    page = (
        "<html><body><article><p>First paragraph of the story.</p>"
        f"<section><div> <div>{box}</div> </div></section><p>Second paragraph.</p></article></body></html>"
    )
    (tmp_path / "story.html").write_text(page, encoding="utf-8")
    doc = load_document(tmp_path / "story.html")
    assert (doc.title, doc.author, doc.published) == ("Real title", "Jane Roe", "2024-05-06")
    assert doc.text == "First paragraph of the story.\n\nSecond paragraph."


def test_a_page_nested_deeper_than_pythons_recursion_limit_is_read(tmp_path: Path) -> None:
    # Read by a stack, not recursion: 5,000 nested elements were an HTTP 500 on upload (RecursionError).
    depth = 5000
    page = f"<html><body>{'<div>' * depth}<p>Deep words.</p>{'<span>x</span></div>' * depth}</body></html>"
    (tmp_path / "deep.html").write_text(page, encoding="utf-8")
    doc = load_document(tmp_path / "deep.html")
    assert doc.text.startswith("Deep words.") and doc.text.count("x") == depth
