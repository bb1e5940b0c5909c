"""Dates, addresses and labelled lines read into metadata (rag.ingest.metadata)."""

from __future__ import annotations

import pytest

from rag.ingest.metadata import Meta, clean_url, iso_date, kind_of_label, labelled


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        pytest.param("2025年2月8日", "2025-02-08", id="chinese-date"),
        pytest.param("2025/2/8 21:58", "2025-02-08T21:58:00", id="slashes-and-time"),
        pytest.param("Sat, 22 Feb 2025 18:08:09 GMT", "2025-02-22T18:08:09+00:00", id="email-date"),
        pytest.param("2025-02-22T18:08:09+08:00", "2025-02-22T18:08:09+08:00", id="iso-with-zone"),
        pytest.param("2024-02-30", None, id="no-such-day"),
        pytest.param("nonsense", None, id="no-date"),
    ],
)
def test_dates_are_read_into_iso_8601(value: str, iso: str | None) -> None:
    assert iso_date(value) == iso
    assert iso_date(value, allow_trailing=False) == iso


def test_text_after_a_date_is_allowed_only_when_asked() -> None:
    assert iso_date("2025-02-08 21:58 点击次数:96") == "2025-02-08T21:58:00"
    assert iso_date("2025-02-08 21:58 点击次数:96", allow_trailing=False) is None


def test_tracking_parameters_are_taken_out_of_an_address() -> None:
    assert clean_url(" https://ex.com/a?utm_source=x&id=3&fbclid=y ") == "https://ex.com/a?id=3"


def test_a_labelled_line_fills_the_field_its_label_names() -> None:
    assert labelled("作者：关不羽") == Meta(author="关不羽")
    assert labelled("发布日期:2025-02-08 21:58 点击次数:96") == Meta(published="2025-02-08T21:58:00")
    assert labelled("来源：某报") == Meta()  # a source label marks a box but fills no field
    assert labelled("Hello: x") == Meta()
    assert kind_of_label("发表日期") == "published"
