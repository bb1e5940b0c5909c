"""Text and link counts over a parsed page (rag.ingest.html_tree)."""

from __future__ import annotations

from bs4 import BeautifulSoup

from rag.ingest.html_tree import TextStats, text_stats


def test_text_and_link_text_are_counted_for_every_element() -> None:
    soup = BeautifulSoup('<div><p>Text <a href="x">link</a></p><p><a>one</a><a>two</a></p></div>', "lxml")
    stats = text_stats(soup)
    div, first, second = soup.find_all(["div", "p"])
    assert stats[id(div)] == TextStats(text=14, linked=10, links=3)
    assert stats[id(first)] == TextStats(text=8, linked=4, links=1)
    assert stats[id(second)] == TextStats(text=6, linked=6, links=2)
