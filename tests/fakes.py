"""The fake pipeline for the HTTP tests, and a document full of markup for the browser test.

The pipeline lives in bench/fakes.py, where the load bench serves it too; it is re-exported here.
"""

from __future__ import annotations

from bench.fakes import DOCUMENTS, FakePipeline, create_fake_app
from rag.types import Document

__all__ = ["DOCUMENTS", "PDF", "XSS", "XSS_IMG", "XSS_SCRIPT", "FakePipeline", "create_fake_app"]

# Markup that must reach the page as text: the browser test checks that none of it runs.
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS = Document(
    doc_id="xss",
    source_file="seeds/<b>xss</b>.html",
    title=f"Payload {XSS_IMG} title",
    author=XSS_SCRIPT,
    published="2025-02-01",
    url="javascript:window.__xss=1",
    language="en",
    text=f"The payload {XSS_SCRIPT} is plain text here. An image payload {XSS_IMG} is plain text too.",
)

# A document read from a PDF: the page shows the page each quote starts on.
_PDF_TEXT = "River survey\n\nForty rivers were sampled in spring.\n\nThe survey cost 84,000 euros in total."
PDF = Document(
    doc_id="rivers",
    source_file="rivers.pdf",
    title="River survey",
    author=None,
    published="2024-05-01",
    url=None,
    language="en",
    text=_PDF_TEXT,
    page_starts=(0, _PDF_TEXT.index("The survey cost")),
)
