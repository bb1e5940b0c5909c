"""PDF and DOCX files that the tests write themselves: in English and Chinese, whole and damaged.

PDFs come from reportlab: Helvetica for English, and for Chinese the CID font STSong-Light, which
every PDF reader knows and reportlab embeds nothing for, so no font file is needed. DOCX files come
from python-docx.
"""

from __future__ import annotations

import errno
import io
import zipfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import docx
import pytest
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

CHINESE_FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(CHINESE_FONT))

# Each page: a heading, then paragraphs long enough to wrap over several lines.
ENGLISH_PAGES = [
    [
        "Annual report on river water quality",
        "The survey covered forty rivers in the northern region during the spring of last year. Samples were "
        "taken every week at three points along each river, upstream, in the middle and downstream of the town.",
        "Nitrate levels rose in most rivers after heavy rain in April, when fertiliser washed off the fields.",
    ],
    [
        "Costs and volunteers",
        "The total cost of the survey was 84,000 euros, paid by the regional water agency. Volunteers from the "
        "local fishing club collected about a third of the samples.",
        "The laboratory used ion chromatography for nitrate and phosphate.",
    ],
]
CHINESE_PAGES = [
    [
        "河流水质年度报告",
        "本次调查覆盖了北部地区的四十条河流，时间是去年春季。每条河流在上游、中游和最大城镇的下游三个位置每周采样一次。",
        "四月大雨之后，大多数河流的硝酸盐含量上升，因为化肥从田地里被冲刷下来。",
    ],
    [
        "费用与志愿者",
        "这次调查的总费用是八万四千欧元，由地区水务局支付。当地钓鱼俱乐部的志愿者采集了大约三分之一的样品。",
        "实验室用离子色谱法测定硝酸盐和磷酸盐。",
    ],
]


def pdf_bytes(
    pages: Sequence[Sequence[str]], chinese: bool = False, title: str | None = None, encrypt: str | None = None
) -> bytes:
    font = CHINESE_FONT if chinese else "Helvetica"
    heading = ParagraphStyle("heading", fontName=font, fontSize=16, leading=22)
    body = ParagraphStyle("body", fontName=font, fontSize=11, leading=16, wordWrap="CJK" if chinese else None)
    story: list[object] = []
    for number, page in enumerate(pages):
        if number:
            story.append(PageBreak())
        story += [Paragraph(page[0], heading), Spacer(1, 8)]
        for paragraph in page[1:]:
            story += [Paragraph(paragraph, body), Spacer(1, 6)]
    out = io.BytesIO()
    encryption = StandardEncryption(encrypt, ownerPassword="owner") if encrypt is not None else None
    SimpleDocTemplate(out, pagesize=A4, title=title or "untitled", author="Test Author", encrypt=encryption).build(
        story
    )
    return out.getvalue()


def image_only_pdf() -> bytes:
    """A page with a picture and no text, as a scanner makes it."""
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    page.drawImage(ImageReader(Image.new("L", (400, 300), 200)), 50, 400, width=400, height=300)
    page.showPage()
    page.save()
    return out.getvalue()


def docx_bytes(
    blocks: Sequence[tuple[int, str]],
    title: str = "",
    author: str = "",
    created: datetime | None = None,
    table: Sequence[Sequence[str]] = (),
) -> bytes:
    """A DOCX of (heading level, text) blocks, level 0 for a paragraph, then an optional table."""
    document = docx.Document()
    properties = document.core_properties
    properties.title, properties.author = title, author
    if created is not None:
        properties.created = created
    for level, text in blocks:
        if level:
            document.add_heading(text, level=level)
        else:
            document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for row, values in zip(grid.rows, table, strict=True):
            for cell, value in zip(row.cells, values, strict=True):
                cell.text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def with_member(raw: bytes, name: str, size: int) -> bytes:
    """The zip ``raw`` with one more member of ``size`` zero bytes, which deflate to almost nothing."""
    out = io.BytesIO(raw)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as archive, archive.open(name, "w") as member:
        chunk = bytes(1024 * 1024)
        for _ in range(size // len(chunk)):
            member.write(chunk)
        member.write(bytes(size % len(chunk)))
    return out.getvalue()


def write(folder: Path, name: str, raw: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(raw)
    return path


def make_read_only(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``folder`` as on a read-only mount: nothing can be made or written inside it (as root, permissions alone
    would not refuse), though the folder itself is there and reads as before."""
    inside = folder.resolve()
    mkdir, open_ = Path.mkdir, Path.open

    def refuse(path: Path) -> None:
        if path.resolve().is_relative_to(inside) and path.resolve() != inside:
            raise OSError(errno.EROFS, "Read-only file system", str(path))

    def no_mkdir(path: Path, *args: object, **kwargs: object) -> None:
        refuse(path)
        mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    def no_open(path: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        if any(m in mode for m in "wax+"):
            refuse(path)
        return open_(path, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "mkdir", no_mkdir)
    monkeypatch.setattr(Path, "open", no_open)
