"""rag/library.py: uploads checked and kept under safe names, deletions, and serialised rebuilds, over a real index."""

from __future__ import annotations

import fcntl
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from documents import CHINESE_PAGES, ENGLISH_PAGES, docx_bytes, image_only_pdf, make_read_only, pdf_bytes
from embedders import FailingEmbedder, HashEmbedder, build_local, open_local, sample_headwords, write_corpus

from rag.config import Settings
from rag.coverage import FEATURES, CoverageModel
from rag.embedding import Kind
from rag.errors import DocumentNotFoundError, NotDeletableError, SeedsNotWritableError, UploadTooLargeError
from rag.ingest.files import doc_id_for
from rag.jobs import JOBS, Job
from rag.library import UPLOADS, WRITE_LOCK, Library, Upload, free_name, name_problem, type_problem
from rag.pipeline import Pipeline
from rag.text import crosslingual
from rag.types import Chunk

PDF_TYPE = "application/pdf"
N = len(FEATURES)
ALWAYS = CoverageModel(weights=(0.0,) * N, bias=30.0, mean=(0.0,) * N, scale=(1.0,) * N)  # answers every question


class Slot:
    """The service's slot, as the app wires it: the pipeline in service and the swaps, recorded."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.swaps: list[Pipeline] = []

    def get(self) -> Pipeline:
        return self.pipeline

    def swap(self, pipeline: Pipeline) -> None:
        self.swaps.append(pipeline)
        self.pipeline = pipeline


@pytest.fixture(autouse=True)
def small_dictionary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crosslingual, "default_headwords", sample_headwords)


@pytest.fixture
def settings(tmp_path: Path, embedder: HashEmbedder) -> Settings:
    settings = Settings(
        seeds_dir=write_corpus(tmp_path / "seeds"),
        index_dir=tmp_path / "index",
        embedding_model=embedder.name,
        chunk_size=100,
        max_file_mb=1,
        max_upload_files=5,
    )
    build_local(settings)
    return settings


@pytest.fixture
def slot(settings: Settings, embedder: HashEmbedder) -> Slot:
    return Slot(Pipeline(settings, embedder, open_local(settings), coverage=ALWAYS))


@pytest.fixture
def library(settings: Settings, slot: Slot) -> Library[Pipeline]:
    return Library(settings, slot.get, slot.swap)


def upload(name: str, raw: bytes, content_type: str | None = None) -> Upload:
    return Upload(name, content_type, io.BytesIO(raw))


def embedded_passages(embedder: HashEmbedder) -> int:
    # build_index embeds passages, then sentences, all as "passage": the passages are the first call of each build.
    return embedder.calls[0][0] if embedder.calls else 0


def files_in(folder: Path) -> list[str]:
    # Hidden files too (a staged upload left behind would show), but the lock file that orders writes.
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != WRITE_LOCK)


# --- names and types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        pytest.param("../x.pdf", "is a path", id="traversal"),
        pytest.param("/etc/passwd.txt", "is a path", id="absolute"),
        pytest.param("..\\..\\x.txt", "is a path", id="backslash"),
        pytest.param("a\x00.txt", "control characters", id="nul"),
        pytest.param("a\nb.txt", "control characters", id="newline"),
        pytest.param(".env.txt", "hidden file", id="dot-file"),
        pytest.param("..", "hidden file", id="dot-dot"),
        pytest.param("", "no file name", id="empty"),
        pytest.param("x" * 300 + ".txt", "longer than", id="long"),
        pytest.param("setup.exe", "unsupported file type '.exe'", id="exe"),
        pytest.param("README", "unsupported file type 'README'", id="no-suffix"),
    ],
)
def test_a_bad_name_is_refused_with_the_reason(name: str, reason: str) -> None:
    problem = name_problem(name)
    assert problem is not None and reason in problem


@pytest.mark.parametrize("name", ["report.pdf", "Report 2024.DOCX", "河流水质报告.pdf", "notes.md", "a-b_c.html"])
def test_a_plain_document_name_is_fine(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("declared", "refused"),
    [
        (None, False),
        ("text/plain; charset=utf-8", False),
        ("application/pdf", False),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", False),
        ("application/octet-stream", False),
        ("image/png", True),
        ("application/zip", True),
        ("application/x-msdownload", True),
    ],
)
def test_a_declared_type_that_is_not_a_documents_is_refused(declared: str | None, refused: bool) -> None:
    assert (type_problem(declared) is not None) == refused


def test_a_free_name_avoids_other_files_and_other_documents_ids() -> None:
    assert free_name("report.pdf", set(), set()) == "report.pdf"
    assert free_name("Report.pdf", {"report.pdf"}, set()) == "Report-2.pdf"
    # "report.docx" would read as doc_id "report", which a PDF already has.
    assert free_name("report.docx", {"report.pdf"}, {"report"}) == "report-2.docx"
    assert free_name("a b.txt", {"a b.txt", "a b-2.txt"}, {doc_id_for("a b.txt")}) == "a b-3.txt"


# --- adding ------------------------------------------------------------------------------------


def test_an_added_pdf_is_kept_in_uploads_indexed_and_swapped_in(
    library: Library[Pipeline], slot: Slot, settings: Settings, embedder: HashEmbedder
) -> None:
    before = slot.pipeline
    embedder.calls.clear()
    added = library.add([upload("rivers.pdf", pdf_bytes(ENGLISH_PAGES, title="River report"), PDF_TYPE)])

    [outcome] = added.files
    assert outcome.reason is None and outcome.stored_as == f"{UPLOADS}/rivers.pdf"
    assert outcome.document is not None and outcome.document.doc_id == "rivers"
    assert (settings.seeds_dir / UPLOADS / "rivers.pdf").is_file()
    assert slot.swaps and slot.pipeline is not before
    assert slot.pipeline.embedder is before.embedder  # the model is not loaded again
    assert "rivers" in {d.doc_id for d in slot.pipeline.documents()}
    assert "rivers" not in {d.doc_id for d in before.documents()}  # the old one is left as it was
    assert added.built is not None
    changes = added.built.changes
    assert (changes.added, changes.changed, changes.removed, changes.unchanged) == (1, 0, 0, 4)
    rivers_chunks = [c for c in _chunks(slot.pipeline) if c.doc_id == "rivers"]
    assert changes.embedded_passages == len(rivers_chunks) == embedded_passages(embedder)


def test_an_added_file_is_answered_from_with_an_exact_quote_and_its_page(
    library: Library[Pipeline], slot: Slot
) -> None:
    library.add([upload("河流.pdf", pdf_bytes(CHINESE_PAGES, chinese=True), PDF_TYPE)])

    answer = slot.pipeline.ask("调查的总费用是多少欧元？")
    evidence = next(e for e in answer.evidence if e.citation.doc_id == "河流")
    document = slot.pipeline.document("河流")
    assert document.text[evidence.citation.start : evidence.citation.end] == evidence.text
    assert "八万四千欧元" in evidence.text and evidence.citation.page == 2


def test_the_same_name_twice_never_overwrites(library: Library[Pipeline], settings: Settings) -> None:
    first = pdf_bytes(ENGLISH_PAGES, title="River report")
    second = docx_bytes([(1, "Another report"), (0, "Quite another text about tea and its prices in spring.")])
    library.add([upload("report.pdf", first)])
    added = library.add([upload("report.pdf", b"A text about coffee, not rivers.\n"), upload("report.docx", second)])

    # "report.docx" is a free name, but its doc_id would be the PDF's "report"; "report-2" is taken by then.
    assert [o.stored_as for o in added.files] == [f"{UPLOADS}/report-2.pdf", f"{UPLOADS}/report-3.docx"]
    assert [o.document.doc_id for o in added.files if o.document] == ["report-2", "report-3"]
    assert (settings.seeds_dir / UPLOADS / "report.pdf").read_bytes() == first


def test_a_name_taken_by_a_seed_file_gets_a_suffix(library: Library[Pipeline]) -> None:
    added = library.add([upload("tea_zh.txt", "普洱茶产于云南，是一种发酵茶。\n".encode())])
    [outcome] = added.files
    assert outcome.stored_as == f"{UPLOADS}/tea_zh-2.txt"
    assert outcome.document is not None and outcome.document.doc_id == "tea_zh-2"


def test_a_copy_of_an_indexed_document_is_refused(library: Library[Pipeline], settings: Settings) -> None:
    raw = (settings.seeds_dir / "panda_zh.txt").read_bytes()
    added = library.add([upload("copy.txt", raw)])
    assert added.files[0].reason == "duplicate of panda_zh" and added.built is None


def test_refused_files_are_not_kept_and_the_index_is_not_rebuilt(
    library: Library[Pipeline], slot: Slot, settings: Settings
) -> None:
    before = files_in(settings.seeds_dir)
    added = library.add(
        [
            upload("scan.pdf", image_only_pdf(), PDF_TYPE),
            upload("big.txt", b"word " * 300_000),
            upload("../../escape.txt", b"text"),
            upload("photo.txt", b"text", "image/png"),
        ]
    )
    assert [o.reason for o in added.files] == [
        "no text layer (scanned?)",
        "too large: over the limit of 1 MB (RAG_MAX_FILE_MB)",
        "bad name: '../../escape.txt' is a path, not a file name",
        "declared content type 'image/png' is not a document type",
    ]
    assert added.built is None and slot.swaps == []
    assert files_in(settings.seeds_dir) == before  # nothing kept, no work folder left behind
    assert not (settings.seeds_dir.parent / "escape.txt").exists()


def test_too_many_files_in_one_upload_are_refused_together(library: Library[Pipeline]) -> None:
    with pytest.raises(UploadTooLargeError, match="6 files in one upload, over the limit of 5"):
        library.add([upload(f"{n}.txt", b"text") for n in range(6)])


@pytest.fixture
def failing(settings: Settings, slot: Slot, monkeypatch: pytest.MonkeyPatch) -> Library[Pipeline]:
    """A library whose rebuilds fail: the model dies at the first batch."""
    monkeypatch.setattr(slot.pipeline, "embedder", FailingEmbedder(succeed=0))
    return Library(settings, slot.get, slot.swap)


def test_a_failed_rebuild_leaves_neither_the_files_nor_a_new_index(
    failing: Library[Pipeline], settings: Settings, slot: Slot
) -> None:
    before = files_in(settings.seeds_dir)
    with pytest.raises(RuntimeError, match="out of memory"):
        failing.add([upload("new.txt", b"A new note about the river survey.\n")])
    assert files_in(settings.seeds_dir) == before
    assert slot.swaps == [] and "new" not in {d.doc_id for d in open_local(settings).documents.documents.values()}


# --- adding without waiting --------------------------------------------------------------------


def finished(library: Library[Pipeline], job: Job) -> Job:
    """The record once its build is done or failed (a generous bound: the build takes about a second)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        read = library.jobs.get(job.id)
        assert read is not None
        if read.status in ("done", "failed"):
            return read
        time.sleep(0.05)
    raise AssertionError(f"upload {job.id} still {read.status}")


def test_an_upload_that_does_not_wait_is_queued_behind_a_write_then_answers_as_add_does(
    library: Library[Pipeline], slot: Slot, settings: Settings
) -> None:
    with (settings.seeds_dir / WRITE_LOCK).open("a") as other:  # another worker's write, under way
        fcntl.flock(other, fcntl.LOCK_EX)
        job = library.add_later(
            [upload("rivers.pdf", pdf_bytes(ENGLISH_PAGES), PDF_TYPE), upload("scan.pdf", image_only_pdf(), PDF_TYPE)]
        )
        time.sleep(0.2)
        read = library.jobs.get(job.id)
        assert read is not None and read.status == "queued" and read.files == 2
        assert slot.swaps == []
        fcntl.flock(other, fcntl.LOCK_UN)

    done = finished(library, job)

    assert done.kind == "upload" and done.status == "done" and done.error is None and done.result is not None
    rivers, scan = done.result["files"]
    assert rivers["accepted"] and rivers["doc_id"] == "rivers" and rivers["stored_as"] == f"{UPLOADS}/rivers.pdf"
    assert not scan["accepted"] and scan["reason"] == "no text layer (scanned?)"
    assert done.result["index"]["added"] == 1
    assert "rivers" in {d.doc_id for d in slot.pipeline.documents()} and len(slot.swaps) == 1
    assert [p.name for p in (settings.seeds_dir / UPLOADS).iterdir()] == ["rivers.pdf"]  # nothing staged left


def test_an_upload_whose_build_fails_later_reads_as_failed_and_keeps_nothing(
    failing: Library[Pipeline], settings: Settings, slot: Slot
) -> None:
    before = files_in(settings.seeds_dir)

    done = finished(failing, failing.add_later([upload("new.txt", b"A new note about the river survey.\n")]))

    assert done.status == "failed" and done.result is None
    assert done.error is not None and done.error["code"] == "internal_error"
    assert [f for f in files_in(settings.seeds_dir) if not f.startswith(f"{JOBS}/")] == before
    assert slot.swaps == []


def test_a_rebuild_that_does_not_wait_swaps_in_the_new_index_and_records_its_figures(
    library: Library[Pipeline], slot: Slot, settings: Settings
) -> None:
    (settings.seeds_dir / "harbour.txt").write_text("The harbour keeps forty boats in winter.\n", encoding="utf-8")

    done = finished(library, library.rebuild_later())

    assert done.kind == "rebuild" and done.status == "done" and done.result is not None
    assert (done.result["added"], done.result["changed"], done.result["removed"]) == (1, 0, 0)
    assert "harbour" in {d.doc_id for d in slot.pipeline.documents()} and len(slot.swaps) == 1


def test_too_many_files_without_waiting_are_refused_at_once_with_no_record(
    library: Library[Pipeline], settings: Settings
) -> None:
    with pytest.raises(UploadTooLargeError, match="6 files in one upload"):
        library.add_later([upload(f"{n}.txt", b"text") for n in range(6)])
    assert not (settings.seeds_dir / JOBS).exists()


@pytest.fixture
def read_only_seeds(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_read_only(settings.seeds_dir, monkeypatch)
    return settings.seeds_dir


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda library: library.add([upload("new.txt", b"A note.\n")]), id="add"),
        pytest.param(lambda library: library.add_later([upload("new.txt", b"A note.\n")]), id="add-later"),
        pytest.param(lambda library: library.delete("zoo"), id="delete"),
        pytest.param(lambda library: library.rebuild(), id="rebuild"),
        pytest.param(lambda library: library.rebuild_later(), id="rebuild-later"),
    ],
)
def test_a_write_to_a_read_only_seeds_folder_says_so_and_changes_nothing(
    library: Library[Pipeline], slot: Slot, read_only_seeds: Path, write: Callable[[Library[Pipeline]], object]
) -> None:
    before = files_in(read_only_seeds)
    with pytest.raises(SeedsNotWritableError, match=r"cannot be written \(Read-only file system\).*writable folder"):
        write(library)
    assert files_in(read_only_seeds) == before and slot.swaps == []


# --- deleting and rebuilding -------------------------------------------------------------------


def test_deleting_removes_the_file_and_the_document(library: Library[Pipeline], slot: Slot, settings: Settings) -> None:
    library.add([upload("rivers.pdf", pdf_bytes(ENGLISH_PAGES))])
    deleted = library.delete("rivers")

    assert deleted.stored_as == f"{UPLOADS}/rivers.pdf" and deleted.built.changes.removed == 1
    assert not (settings.seeds_dir / UPLOADS / "rivers.pdf").exists()
    assert "rivers" not in {d.doc_id for d in slot.pipeline.documents()}
    answer = slot.pipeline.ask("How much did the river survey cost in euros?")
    assert all(e.citation.doc_id != "rivers" for e in answer.evidence)
    assert all(h.chunk.doc_id != "rivers" for h in answer.hits)
    assert files_in(settings.seeds_dir) == sorted(["panda_en.md", "panda_zh.txt", "tea_zh.txt", "zoo.html"])


def test_deleting_a_seed_file_works_too(library: Library[Pipeline], settings: Settings) -> None:
    library.delete("zoo")
    assert not (settings.seeds_dir / "zoo.html").exists()


def test_deleting_an_unknown_document_is_not_found(library: Library[Pipeline]) -> None:
    with pytest.raises(DocumentNotFoundError):
        library.delete("nope")


def test_a_document_whose_file_is_outside_the_seeds_folder_is_not_deleted(
    settings: Settings, slot: Slot, tmp_path: Path
) -> None:
    elsewhere = write_corpus(tmp_path / "elsewhere", {"outside.txt": "A document that lives outside the seeds.\n"})
    build_local(settings, sources=[settings.seeds_dir, elsewhere])
    slot.pipeline = slot.pipeline.reopen()
    library = Library(settings, slot.get, slot.swap)

    with pytest.raises(NotDeletableError, match="not one file inside RAG_SEEDS_DIR"):
        library.delete("outside")
    assert (elsewhere / "outside.txt").is_file()


def test_the_last_document_is_not_deleted(settings: Settings, slot: Slot, tmp_path: Path) -> None:
    only = Settings(
        seeds_dir=write_corpus(tmp_path / "only", {"one.txt": "The only document.\n"}),
        index_dir=tmp_path / "only-index",
        embedding_model=settings.embedding_model,
    )
    build_local(only)
    one = Slot(Pipeline(only, HashEmbedder(), open_local(only), coverage=ALWAYS))
    with pytest.raises(NotDeletableError, match="last document"):
        Library(only, one.get, one.swap).delete("one")
    assert (only.seeds_dir / "one.txt").is_file()


def test_a_failed_rebuild_after_a_delete_puts_the_file_back(
    settings: Settings, slot: Slot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing is embedded when a file goes away: fail the build itself.
    monkeypatch.setattr("rag.indexing.build_lexicon", _fail)
    with pytest.raises(RuntimeError):
        Library(settings, slot.get, slot.swap).delete("zoo")
    assert (settings.seeds_dir / "zoo.html").is_file()
    assert files_in(settings.seeds_dir) == sorted(["panda_en.md", "panda_zh.txt", "tea_zh.txt", "zoo.html"])


def test_a_changed_file_re_embeds_only_its_own_passages(
    library: Library[Pipeline], slot: Slot, settings: Settings, embedder: HashEmbedder
) -> None:
    tea = settings.seeds_dir / "tea_zh.txt"
    tea.write_text(tea.read_text("utf-8") + "\n碧螺春产于江苏苏州的太湖洞庭山。\n", "utf-8")
    embedder.calls.clear()

    built = library.rebuild()

    changes = built.changes
    assert (changes.added, changes.changed, changes.removed, changes.unchanged) == (0, 1, 0, 3)
    tea_chunks = [c for c in _chunks(slot.pipeline) if c.doc_id == "tea_zh"]
    # Only the passages whose text changed: the tea document's last one (its earlier ones keep their vectors).
    assert 1 <= changes.embedded_passages == embedded_passages(embedder) <= len(tea_chunks)
    other_chunks = [c for c in _chunks(slot.pipeline) if c.doc_id != "tea_zh"]
    assert changes.reused_vectors >= len(other_chunks)


# --- one write at a time -----------------------------------------------------------------------


class SlowEmbedder(HashEmbedder):
    """Records how many builds embed at once."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.most = 0
        self.guard = threading.Lock()

    def embed(self, texts: list[str], kind: Kind, progress: bool = False) -> np.ndarray:
        with self.guard:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(0.2)
        try:
            return super().embed(texts, kind)
        finally:
            with self.guard:
                self.active -= 1


def test_concurrent_writes_run_one_at_a_time_and_all_land(settings: Settings) -> None:
    slow = SlowEmbedder()
    slot = Slot(Pipeline(settings, slow, open_local(settings), coverage=ALWAYS))
    library = Library(settings, slot.get, slot.swap)
    texts = {f"note{n}.txt": f"Note number {n} is about the harbour and its {n} boats.\n" for n in range(3)}
    threads = [
        threading.Thread(target=library.add, args=([upload(name, text.encode())],)) for name, text in texts.items()
    ]
    threads.append(threading.Thread(target=library.delete, args=("zoo",)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert slow.most == 1
    assert len(slot.swaps) == 4
    final = {d.doc_id for d in slot.pipeline.documents()}
    assert {"note0", "note1", "note2"} <= final and "zoo" not in final
    assert final == {d.doc_id for d in open_local(settings).documents.documents.values()}


def _chunks(pipeline: Pipeline) -> list[Chunk]:
    documents = pipeline.store.documents
    return documents.chunks(list(range(documents.chunk_count)))


def _fail(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("build failed")


def test_two_libraries_over_one_folder_write_one_at_a_time(settings: Settings) -> None:
    # Server workers (RAG_WORKERS > 1) each have a library: the lock file orders their writes.
    slow = SlowEmbedder()
    slots = [Slot(Pipeline(settings, slow, open_local(settings), coverage=ALWAYS)) for _ in range(2)]
    libraries = [Library(settings, slot.get, slot.swap) for slot in slots]
    threads = [
        threading.Thread(target=library.add, args=([upload(f"worker{n}.txt", f"Worker {n} wrote this.\n".encode())],))
        for n, library in enumerate(libraries)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert slow.most == 1
    assert {"worker0", "worker1"} <= {d.doc_id for d in open_local(settings).documents.documents.values()}
