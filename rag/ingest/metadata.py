"""What a document says about itself: its title, author, date and address, and how each is read.

Dates come in as many forms as there are sites ("2025年2月8日", "2025-02-08 21:58", RFC 2822 feed
dates, ISO with a time zone) and leave as ISO 8601; addresses lose their tracking parameters; a
"label：value" line ("作者：关不羽", "Published: 2024-05-06") is read into the field its label names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


@dataclass
class Meta:
    title: str | None = None
    author: str | None = None
    published: str | None = None
    url: str | None = None

    @classmethod
    def first_of(cls, *sources: Meta) -> Meta:
        meta = cls()
        meta.fill(*sources)
        return meta

    def fill(self, *sources: Meta) -> None:
        for source in sources:
            for f in fields(self):
                if getattr(self, f.name) is None:
                    setattr(self, f.name, getattr(source, f.name))


# --- addresses --------------------------------------------------------------------------------

_TRACKING_PARAMS = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|spm)$")


def clean_url(url: str) -> str:
    parts = urlsplit(url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k)]
    return urlunsplit(parts._replace(query=urlencode(query)))


# --- dates ------------------------------------------------------------------------------------

_DATE = re.compile(
    r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[ T]*(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?"
)


def iso_date(value: str, *, allow_trailing: bool = True) -> str | None:
    """The date or timestamp ``value`` writes, in ISO 8601; None when it writes none.

    With ``allow_trailing``, a year-month-day date may be followed by other text ("2025-02-08 21:58
    点击次数:96"); without it, the value must be nothing but a date, as a line taken for one must be.
    """
    text = value.strip()
    if whole := _DATE.fullmatch(text):  # keeps a bare date a date, not midnight
        return _date_from_match(whole)
    try:
        return datetime.fromisoformat(text).isoformat()  # keeps a time zone
    except ValueError:
        pass
    if allow_trailing and (start := _DATE.match(text)):
        return _date_from_match(start)
    # Only text with a four-digit year is tried as an e-mail date ("Sat, 22 Feb 2025 18:08:09 GMT").
    if re.search(r"\d{4}", text):
        try:
            return parsedate_to_datetime(text).isoformat()
        except (TypeError, ValueError, IndexError):
            return None
    return None


def _date_from_match(match: re.Match[str]) -> str | None:
    y, m, d = int(match["y"]), int(match["m"]), int(match["d"])
    try:
        if match["H"] is None:
            return date(y, m, d).isoformat()
        return datetime(y, m, d, int(match["H"]), int(match["M"]), int(match["S"] or 0)).isoformat()
    except ValueError:
        return None


# --- labelled lines ---------------------------------------------------------------------------

LABELS = {
    "title": "标题|題目|标 题|title",
    "author": "作者|作 者|撰文|author|by",
    "published": "发表日期|发布日期|发表时间|发布时间|出版日期|日期|时间|published|date|posted",
    "source": "来源|出处|原文|source",
}
_LABEL = re.compile(
    r"\s*(?:(?P<title>{title})|(?P<author>{author})|(?P<published>{published})|(?P<source>{source}))"
    r"\s*[:：]\s*(?P<value>.*)".format(**LABELS),
    re.IGNORECASE,
)


def labelled(line: str) -> Meta:
    """The field a "label：value" line fills; an empty Meta for any other line."""
    match = _LABEL.match(line)
    if not match or not match["value"].strip():
        return Meta()
    value = match["value"].strip()
    if match["title"]:
        return Meta(title=value)
    if match["author"]:
        return Meta(author=value)
    if match["published"]:
        return Meta(published=iso_date(value))
    return Meta()


def kind_of_label(label: str) -> str:
    """Which of LABELS a label word names ("作者" -> "author"); "" for none."""
    match = _LABEL.match(f"{label}:")
    return next((k for k in LABELS if match and match[k]), "")
