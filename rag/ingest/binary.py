"""Documents in binary formats, PDF and DOCX: told apart by their content and read within limits.

Each file is read by its parser in a child process (``rag.ingest.isolation``) with a time and a memory
limit, and a DOCX's zip is checked for its unpacked size first, so that no file can crash or stall a
build: each one is read, or skipped with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.config import Settings
from rag.ingest.blocks import Pages
from rag.ingest.isolation import MB, run_isolated

PARSE_SECONDS = 30.0  # a 50 MB text PDF reads in a few seconds; a file that takes longer is hostile or broken
MAX_UNZIPPED_MB = 200  # a DOCX's text and images rarely unpack to more than a few times its size
PARSER_MEMORY_MB = 2048


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 50 * MB
    parse_seconds: float = PARSE_SECONDS
    max_unzipped_bytes: int = MAX_UNZIPPED_MB * MB
    memory_bytes: int = PARSER_MEMORY_MB * MB

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(max_file_bytes=round(settings.max_file_mb * MB))


def read_binary(raw: bytes, suffix: str, limits: Limits) -> Pages | None:
    """The pages of a PDF or a DOCX; None when ``raw`` is neither (``suffix`` only names a damaged one)."""
    # Imported here, not with the module: pypdf and python-docx take a few tenths of a second to import, and
    # the server reads the limits at start but parses only what is uploaded. (Before the fork, so that the
    # child starts with them loaded.)
    from rag.ingest import docx, pdf

    if pdf.is_pdf(raw):
        return run_isolated(pdf.read_pdf, raw, limits.parse_seconds, limits.memory_bytes)
    if docx.is_docx(raw, suffix):
        docx.check_unzipped_size(raw, limits.max_unzipped_bytes)
        return run_isolated(docx.read_docx, raw, limits.parse_seconds, limits.memory_bytes)
    return None
