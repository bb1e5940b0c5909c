"""HTML read into blocks, its head into metadata, its page furniture dropped (rag.ingest.html_page)."""

from __future__ import annotations

from rag.ingest.blocks import Block
from rag.ingest.html_page import html_blocks
from rag.ingest.metadata import Meta

PAGE = (
    '<html><head><title>Story | Site</title><link rel="canonical" href="https://site.ex/story?utm_source=tw&id=9">'
    '<meta name="author" content="Ann Author"><meta property="article:published_time" content="2024-05-06T07:08:09Z">'
    '</head><body><nav><a href="/">Home</a></nav><div class="breadcrumbs">Home &gt; News</div><h1>Story</h1>'
    '<p>First paragraph, with <a href="x">a link</a> in it.</p>'
    '<ul><li><a href="r1">Related one</a></li><li><a href="r2">Related two</a></li></ul>'
    "<p>Line<br>break</p><footer>© 2024</footer></body></html>"
)


def test_the_article_is_kept_and_the_page_around_it_dropped() -> None:
    blocks, _ = html_blocks(PAGE)
    assert blocks == [Block(("Story",), 1), Block(("First paragraph, with a link in it.",)), Block(("Line", "break"))]


def test_the_head_gives_title_author_date_and_a_clean_address() -> None:
    _, meta = html_blocks(PAGE)
    assert meta == Meta("Story", "Ann Author", "2024-05-06T07:08:09+00:00", "https://site.ex/story?id=9")
