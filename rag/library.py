"""The document library behind the write routes: uploads checked and kept under safe names, deletions, rebuilds.

Uploaded files go to ``RAG_SEEDS_DIR/uploads``, so that ``rag index`` of the seeds folder sees them too.
Each is read with the loader and limits of ``rag index`` before it is kept, and a file that would not be
indexed is refused with the loader's reason. Writes run one at a time: each rebuilds the index of
``RAG_SEEDS_DIR`` incrementally with the embedder already loaded, and only then hands the service a
pipeline over the new index, so questions are answered from the previous one until the swap.
``add_later`` and ``rebuild_later`` do the same on a thread of their own and answer at once with a record
(rag.jobs) that says how the write went.
"""

from __future__ import annotations

import fcntl
import itertools
import logging
import secrets
import threading
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Generic, Protocol, Self, TypeVar

from rag.background import in_background
from rag.config import Settings
from rag.errors import (
    BadDocumentError,
    DocumentNotFoundError,
    NotDeletableError,
    RagError,
    SeedsNotWritableError,
    UploadTooLargeError,
)
from rag.ingest.binary import Limits
from rag.ingest.files import SUFFIXES, content_key, discover_files, doc_id_for
from rag.ingest.isolation import MB
from rag.jobs import JOBS, Job, Jobs, Kind
from rag.serialize import added_to_dict, built_to_dict
from rag.types import Document

if TYPE_CHECKING:
    from rag.embedding import Embedder
    from rag.indexing import Built

log = logging.getLogger(__name__)
UNEXPECTED = "the build failed unexpectedly; the server's log has the details"

UPLOADS = "uploads"  # the folder under RAG_SEEDS_DIR that uploaded files go to
# Files being checked, and files being deleted, wait beside the others under hidden names (which `rag
# index` passes over): a file, not a folder, since a folder that vanishes while a build walks the seeds
# would break the walk; and in the same folder, so that a rename moves it in or back.
STAGING_PREFIX = ".staging-"
DELETING_PREFIX = ".deleting-"
WRITE_LOCK = ".write.lock"
MAX_NAME_BYTES = 200
COPY_CHUNK = 1024 * 1024
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# Declared types a document may arrive with, besides text/*: the content decides the format, but a file
# declared as an image, an archive or a program is not a document whatever its name says.
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/x-pdf",
        DOCX_TYPE,
        "application/msword",
        "application/xhtml+xml",
        "application/octet-stream",  # what browsers and curl send when they do not know
    }
)


class Served(Protocol):
    """What the library needs of the pipeline in service: its embedder, its documents, and a way to reopen it."""

    @property
    def embedder(self) -> Embedder: ...

    def documents(self) -> list[Document]: ...

    def reopen(self) -> Self: ...


P = TypeVar("P", bound=Served)


@dataclass(frozen=True)
class Upload:
    name: str  # as the client sent it
    content_type: str | None
    file: BinaryIO


@dataclass(frozen=True)
class Outcome:
    """One uploaded file: where it was kept and the document it became, or why it was refused."""

    name: str
    stored_as: str | None = None  # relative to RAG_SEEDS_DIR
    document: Document | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Added:
    files: list[Outcome]
    built: Built | None  # None when every file was refused and the index was left as it was


@dataclass(frozen=True)
class Deleted:
    document: Document
    stored_as: str
    built: Built


@dataclass(frozen=True)
class _Staged:
    upload: Upload
    name: str  # the upload's name, checked
    path: Path  # where it waits to be kept
    document: Document


class Library(Generic[P]):
    """The files of RAG_SEEDS_DIR and the index built from them, changed one write at a time.

    ``current`` gives the pipeline in service and ``swap`` puts a new one in its place; both are called
    with the write lock held, so a later write always builds on, and swaps in after, an earlier one.
    """

    def __init__(self, settings: Settings, current: Callable[[], P], swap: Callable[[P], None]) -> None:
        self.settings = settings
        self.seeds = settings.seeds_dir
        self.uploads = settings.seeds_dir / UPLOADS
        self.limits = Limits.from_settings(settings)
        self._current = current
        self._swap = swap
        self._lock = threading.Lock()
        self.jobs = Jobs(settings.seeds_dir / JOBS)

    def add(self, uploads: Sequence[Upload]) -> Added:
        """Check and keep each file, then rebuild once; refused files are not kept, and get their reason."""
        checked = self._check_all(uploads)
        try:
            with self._writing():
                return self._keep(checked)
        finally:
            _discard(checked)

    def add_later(self, uploads: Sequence[Upload]) -> Job:
        """Check each file now, keep and rebuild on a thread of its own: the record to follow it by.

        The files are read before this returns (so the request's own copies may go); whether each is
        kept, and the rebuild's figures, are in the record once it is done, as ``add`` returns them.
        """
        checked = self._check_all(uploads)
        try:
            job = self._new_job("upload", len(uploads))
        except BaseException:
            _discard(checked)
            raise
        self._later(job, lambda: added_to_dict(self._keep(checked)), after=lambda: _discard(checked))
        return job

    def rebuild_later(self) -> Job:
        """``rebuild`` on a thread of its own: the record to follow it by."""
        job = self._new_job("rebuild")
        self._later(job, lambda: built_to_dict(self._rebuild_in_service()))
        return job

    def _new_job(self, kind: Kind, files: int = 0) -> Job:
        with self._seeds_written():  # the records are kept in RAG_SEEDS_DIR too
            return self.jobs.create(kind, files)

    def _later(self, job: Job, write: Callable[[], dict[str, Any]], after: Callable[[], None] = lambda: None) -> None:
        """Run ``write`` with the write lock on a new thread, its answer or its error going to ``job``'s record;
        then ``after``, whatever happened."""

        def run() -> None:
            try:
                with self._writing():
                    self.jobs.running(job)
                    result = write()
                self.jobs.done(job, result)
            except RagError as error:
                self.jobs.failed(job, error.code, str(error))
            except Exception:
                log.exception("%s %s: the build failed", job.kind, job.id)
                self.jobs.failed(job, "internal_error", UNEXPECTED)
            finally:
                after()

        in_background(run, name=f"{job.kind}-{job.id}")

    def _check_all(self, uploads: Sequence[Upload]) -> list[_Staged | Outcome]:
        if len(uploads) > self.settings.max_upload_files:
            raise UploadTooLargeError(
                f"{len(uploads)} files in one upload, over the limit of {self.settings.max_upload_files} "
                "(RAG_MAX_UPLOAD_FILES)"
            )
        with self._seeds_written():
            self.uploads.mkdir(parents=True, exist_ok=True)
        checked: list[_Staged | Outcome] = []
        try:
            checked += (self._check(upload) for upload in uploads)
        except BaseException:
            _discard(checked)
            raise
        return checked

    def delete(self, doc_id: str) -> Deleted:
        """Remove the document's file from RAG_SEEDS_DIR and rebuild; the file is put back if the build fails."""
        with self._writing():
            current = self._current()
            documents = {d.doc_id: d for d in current.documents()}
            if doc_id not in documents:
                raise DocumentNotFoundError(f"no document with doc_id {doc_id!r}")
            if len(documents) == 1:
                raise NotDeletableError(f"{doc_id!r} is the last document; an index cannot be empty")
            document = documents[doc_id]
            path = self.source_of(document)
            aside = path.with_name(f"{DELETING_PREFIX}{secrets.token_hex(8)}-{path.name}")
            path.replace(aside)
            try:
                built, rebuilt = self._rebuild(current)
            except BaseException:
                aside.replace(path)
                raise
            aside.unlink()
            self._swap(rebuilt)
            return Deleted(document, path.relative_to(self.seeds).as_posix(), built)

    def rebuild(self) -> Built:
        """Rebuild the index of RAG_SEEDS_DIR, re-embedding only new and changed text, and swap it in."""
        with self._writing():
            return self._rebuild_in_service()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        # The thread lock orders this process's writes; the file lock, those of other server workers
        # (RAG_WORKERS > 1) and processes over the same folder.
        with self._lock:
            with self._seeds_written():
                self.seeds.mkdir(parents=True, exist_ok=True)
                lock = (self.seeds / WRITE_LOCK).open("a")
            with lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def _seeds_written(self) -> Iterator[None]:
        """What a write first does in RAG_SEEDS_DIR; a folder that cannot be written is said to be, not a 500."""
        try:
            yield
        except OSError as error:
            raise SeedsNotWritableError(
                f"RAG_SEEDS_DIR ({self.seeds}) cannot be written ({error.strerror or error}): adding, deleting and "
                "rebuilding through the service need a writable folder (not a read-only mount)"
            ) from error

    def source_of(self, document: Document) -> Path:
        """The file in RAG_SEEDS_DIR that ``document`` was read from."""
        named = [p for p in discover_files([self.seeds]) if p.name == document.source_file]
        if len(named) > 1:  # the same name in two folders: the one whose text this is
            named = [p for p in named if _text_of(p, self.limits) == document.text]
        seeds = self.seeds.resolve()
        inside = [p for p in named if p.resolve().is_relative_to(seeds) and p.parent.resolve().is_relative_to(seeds)]
        if len(inside) != 1:
            raise NotDeletableError(
                f"the file of {document.doc_id!r} ({document.source_file}) is not one file inside RAG_SEEDS_DIR "
                f"({self.seeds}); only those can be deleted here"
            )
        return inside[0]

    # --- uploads ---------------------------------------------------------------------------------

    def _check(self, upload: Upload) -> _Staged | Outcome:
        """The upload read as `rag index` would read it, from a hidden file in the uploads folder; or its refusal."""
        name = unicodedata.normalize("NFC", upload.name or "")
        reason = name_problem(name) or type_problem(upload.content_type)
        if reason is not None:
            return Outcome(upload.name, reason=reason)
        # The suffix stays: it names a damaged DOCX, which the content alone cannot.
        path = self.uploads / f"{STAGING_PREFIX}{secrets.token_hex(8)}{Path(name).suffix}"
        if not _copy(upload.file, path, self.limits.max_file_bytes):
            limit = self.limits.max_file_bytes / MB
            return Outcome(upload.name, reason=f"too large: over the limit of {limit:g} MB (RAG_MAX_FILE_MB)")
        try:
            document = _read(path, self.limits)
        except BadDocumentError as error:
            path.unlink()
            return Outcome(upload.name, reason=str(error))
        return _Staged(upload, name, path, document)

    def _keep(self, checked: list[_Staged | Outcome]) -> Added:
        current = self._current()
        known = {content_key(d.text): d.doc_id for d in current.documents()}
        taken_names, taken_ids = self._taken(current)
        outcomes: list[Outcome] = []
        kept: list[Path] = []
        for item in checked:
            if isinstance(item, Outcome):
                outcomes.append(item)
                continue
            key = content_key(item.document.text)
            if key in known:
                outcomes.append(Outcome(item.upload.name, reason=f"duplicate of {known[key]}"))
                continue
            name = free_name(item.name, taken_names, taken_ids)
            taken_names.add(name.casefold())
            taken_ids.add(doc_id_for(name).casefold())
            known[key] = doc_id_for(name)
            target = self.uploads / name
            item.path.replace(target)
            kept.append(target)
            outcomes.append(Outcome(item.upload.name, stored_as=target.relative_to(self.seeds).as_posix()))
        if not kept:
            return Added(outcomes, None)
        try:
            built, rebuilt = self._rebuild(current)
        except BaseException:
            for path in kept:  # the folder goes back to what the index in service was built from
                path.unlink(missing_ok=True)
            raise
        self._swap(rebuilt)
        return Added(self._indexed(outcomes, rebuilt.documents(), built), built)

    def _taken(self, current: Served) -> tuple[set[str], set[str]]:
        """File names anywhere in RAG_SEEDS_DIR and document ids, case-folded: a new file takes neither."""
        # Not in hidden folders: a file there (an upload being checked) is not in the collection.
        names = {p.name.casefold() for p in self.seeds.rglob("*") if not _hidden(p.relative_to(self.seeds))}
        ids = {d.doc_id.casefold() for d in current.documents()}
        ids |= {doc_id_for(p.name).casefold() for p in discover_files([self.seeds])}
        return names, ids

    def _indexed(self, outcomes: list[Outcome], documents: list[Document], built: Built) -> list[Outcome]:
        """The kept files with the documents the new index holds for them (an id can differ from the stem)."""
        by_file = {d.source_file: d for d in documents}
        out = []
        for o in outcomes:
            if o.stored_as is None:
                out.append(o)
                continue
            path = self.seeds / o.stored_as
            document = by_file.get(path.name)
            note = next((n for n in built.notes if f"{path}: " in n), "skipped")
            reason = None if document else f"kept as {o.stored_as}, but not indexed ({note})"
            out.append(Outcome(o.name, o.stored_as, document, reason))
        return out

    def _rebuild_in_service(self) -> Built:
        built, rebuilt = self._rebuild(self._current())
        self._swap(rebuilt)
        return built

    def _rebuild(self, current: P) -> tuple[Built, P]:
        # Imported here: the stores pull in FAISS and Qdrant (seconds), which an app that never writes does not need.
        from rag.indexing import build_index
        from rag.stores import open_backend

        built = build_index(self.settings, current.embedder, open_backend(self.settings), [self.seeds], reuse=True)
        return built, current.reopen()


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a file in the uploads folder, or None: a bare name, not hidden, of a document type."""
    if not name.strip():
        return "bad name: no file name"
    if "/" in name or "\\" in name:
        return f"bad name: {name!r} is a path, not a file name"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in name):
        return f"bad name: {name!r} has control characters"
    if name.startswith("."):
        return f"bad name: {name!r} is a hidden file"
    if len(name.encode("utf-8", "replace")) > MAX_NAME_BYTES:
        return f"bad name: longer than {MAX_NAME_BYTES} bytes"
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        return f"unsupported file type '{suffix or name}': send .txt, .md, .html, .pdf or .docx files"
    return None


def type_problem(content_type: str | None) -> str | None:
    """Why a declared content type is not a document's, or None (text/*, PDF, DOCX, unknown or none)."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if not media or media.startswith("text/") or media in DOCUMENT_TYPES:
        return None
    return f"declared content type '{media}' is not a document type"


def free_name(name: str, taken_names: set[str], taken_ids: set[str]) -> str:
    """``name``, or ``name`` with -2, -3... before its suffix: no other file's name and no other document's id."""
    path = Path(name)
    for n in itertools.count(1):
        candidate = name if n == 1 else f"{path.stem}-{n}{path.suffix}"
        if candidate.casefold() not in taken_names and doc_id_for(candidate).casefold() not in taken_ids:
            return candidate
    raise AssertionError("unreachable")


def _copy(source: BinaryIO, target: Path, limit: int) -> bool:
    """Copy ``source`` to a new file ``target``; False, and nothing kept, when it is over ``limit`` bytes."""
    size = 0
    with target.open("xb") as out:
        while chunk := source.read(COPY_CHUNK):
            size += len(chunk)
            if size > limit:
                break
            out.write(chunk)
    if size > limit:
        target.unlink()
        return False
    return True


def _discard(checked: list[_Staged | Outcome]) -> None:
    """Remove the staged files not kept: refused as duplicates, or left when the build failed."""
    for item in checked:
        if isinstance(item, _Staged):
            item.path.unlink(missing_ok=True)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _text_of(path: Path, limits: Limits) -> str | None:
    try:
        return _read(path, limits).text
    except BadDocumentError:
        return None


def _read(path: Path, limits: Limits) -> Document:
    # Imported at the first upload or deletion, not with the module: the parsers (BeautifulSoup, pypdf,
    # python-docx) take a few tenths of a second to import, and the app builds a Library at start.
    from rag.ingest.loading import load_document

    return load_document(path, limits)
