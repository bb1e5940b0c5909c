"""api/admin_routes.py: POST /documents, DELETE /documents/{doc_id}, POST /index/rebuild over a real pipeline.

The pipeline is the real one over a small index built with the hash embedder; uploads are PDFs and DOCX
files the tests write, in English and Chinese, and damaged or hostile files.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from api_helpers import KEY, error_of
from documents import (
    CHINESE_PAGES,
    ENGLISH_PAGES,
    docx_bytes,
    image_only_pdf,
    make_read_only,
    pdf_bytes,
    with_member,
)
from embedders import CORPUS, HashEmbedder, build_local, open_local, sample_headwords, write_corpus
from fakes import FakePipeline
from fastapi.testclient import TestClient
from httpx import Response

from api.app import create_app
from rag.config import Settings
from rag.coverage import FEATURES, CoverageModel
from rag.embedding import Kind
from rag.ingest.binary import MAX_UNZIPPED_MB
from rag.ingest.isolation import MB
from rag.library import WRITE_LOCK
from rag.pipeline import Pipeline
from rag.text import crosslingual

N = len(FEATURES)
ALWAYS = CoverageModel(weights=(0.0,) * N, bias=30.0, mean=(0.0,) * N, scale=(1.0,) * N)  # answers every question
AUTH = {"Authorization": f"Bearer {KEY}"}
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEA_EN = [
    (1, "Tea harvest notes"),
    (0, "The first picking of the year starts in early April."),
    (2, "Prices"),
    (0, "Pre-Qingming leaves sold for 3,000 yuan a kilogram.\nLater pickings cost far less."),
]
TEA_ZH = [(1, "龙井茶采摘笔记"), (0, "每年的第一批采摘在四月初开始。"), (0, "明前茶每公斤卖到三千元。")]
SEED_FILES = sorted(CORPUS)

File = tuple[str, tuple[str, bytes, str]]


@pytest.fixture(autouse=True)
def small_dictionary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crosslingual, "default_headwords", sample_headwords)


@pytest.fixture
def settings(tmp_path: Path, embedder: HashEmbedder) -> Settings:
    settings = Settings(
        seeds_dir=write_corpus(tmp_path / "seeds"),
        index_dir=tmp_path / "index",
        embedding_model=embedder.name,
        api_key=KEY,
        max_file_mb=1,
        max_upload_files=25,
        max_upload_mb=4,
    )
    build_local(settings)
    return settings


def app_client(settings: Settings, embedder: HashEmbedder) -> TestClient:
    pipeline = Pipeline(settings, embedder, open_local(settings), coverage=ALWAYS)
    return TestClient(create_app(settings, pipeline), headers=AUTH)


@pytest.fixture
def admin(settings: Settings, embedder: HashEmbedder) -> Iterator[TestClient]:
    with app_client(settings, embedder) as client:
        yield client


def upload(client: TestClient, *files: File) -> Response:
    return client.post("/documents", files=list(files))


def file(name: str, raw: bytes, content_type: str = "application/octet-stream") -> File:
    return ("files", (name, raw, content_type))


def accepted(response: Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return accepted_in(response.json())


def accepted_in(body: dict[str, Any]) -> dict[str, str]:
    refused = [f for f in body["files"] if not f["accepted"]]
    assert refused == [], refused
    return {f["name"]: f["doc_id"] for f in body["files"]}


def evidence_from(client: TestClient, question: str, doc_id: str) -> dict[str, Any]:
    answer = client.post("/ask", json={"question": question, "top_k": 10}).json()
    cited = [e for e in answer["evidence"] if e["citation"]["doc_id"] == doc_id]
    assert cited, (doc_id, [e["citation"]["doc_id"] for e in answer["evidence"]])
    return cited[0]


def doc_ids(client: TestClient) -> set[str]:
    return {d["doc_id"] for d in client.get("/documents").json()}


def files_in(folder: Path) -> list[str]:
    # Hidden files too (a staged upload left behind would show), but the lock file that orders writes.
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != WRITE_LOCK)


# --- adding, asking, deleting ------------------------------------------------------------------


UPLOADS = [
    file("rivers.pdf", pdf_bytes(ENGLISH_PAGES, title="River report"), PDF),
    file("河流报告.pdf", pdf_bytes(CHINESE_PAGES, chinese=True, title="河流水质报告"), PDF),
    file("tea.docx", docx_bytes(TEA_EN, title="Tea harvest notes"), DOCX),
    file("龙井.docx", docx_bytes(TEA_ZH), DOCX),
]
QUESTIONS = {
    "rivers.pdf": ("How much did the survey cost in euros?", "84,000 euros", 2),
    "河流报告.pdf": ("这次调查的总费用是多少欧元？", "八万四千欧元", 2),
    "tea.docx": ("How much did Pre-Qingming leaves sell for a kilogram?", "3,000 yuan", None),
    "龙井.docx": ("明前茶每公斤卖到多少钱？", "三千元", None),
}


def test_pdf_and_docx_in_english_and_chinese_are_uploaded_and_answered_with_exact_quotes(
    admin: TestClient, settings: Settings
) -> None:
    response = upload(admin, *UPLOADS)

    ids = accepted(response)
    assert set(ids) == set(QUESTIONS)
    index = response.json()["index"]
    assert (index["added"], index["changed"], index["removed"], index["unchanged"]) == (4, 0, 0, len(CORPUS))
    assert files_in(settings.seeds_dir / "uploads") == sorted(QUESTIONS)
    listed = {d["doc_id"]: d for d in admin.get("/documents").json()}
    assert listed[ids["河流报告.pdf"]]["title"] == "河流水质报告" and listed[ids["龙井.docx"]]["language"] == "zh"
    for name, (question, words, page) in QUESTIONS.items():
        evidence = evidence_from(admin, question, ids[name])
        citation = evidence["citation"]
        text = admin.get(f"/documents/{ids[name]}").json()["text"]
        assert text[citation["start"] : citation["end"]] == evidence["text"], name
        assert words in evidence["text"], (name, evidence["text"])
        assert citation["page"] == page, name


def followed(client: TestClient, location: str) -> dict[str, Any]:
    """The upload's record once done or failed, read as a client polls it (a generous bound)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        response = client.get(location)
        assert response.status_code == 200, response.text
        if response.json()["status"] in ("done", "failed"):
            return dict(response.json())
        time.sleep(0.05)
    raise AssertionError(f"{location} did not finish")


def test_an_upload_that_does_not_wait_answers_202_and_is_followed_to_its_answer(admin: TestClient) -> None:
    response = admin.post("/documents", params={"wait": "false"}, files=[UPLOADS[0], UPLOADS[2]])

    assert response.status_code == 202, response.text
    job = response.json()
    assert (job["kind"], job["status"], job["files"]) == ("upload", "queued", 2)
    assert job["result"] is None and job["error"] is None
    assert response.headers["location"] == f"/index/builds/{job['id']}"
    record = followed(admin, response.headers["location"])
    assert record["status"] == "done" and record["finished"] is not None
    ids = accepted_in(record["result"])
    assert set(ids) == {"rivers.pdf", "tea.docx"} and set(ids.values()) <= doc_ids(admin)
    assert record["result"]["index"]["added"] == 2
    question, words, _ = QUESTIONS["rivers.pdf"]
    assert words in evidence_from(admin, question, ids["rivers.pdf"])["text"]


def test_a_rebuild_that_does_not_wait_is_followed_to_its_figures(admin: TestClient, settings: Settings) -> None:
    (settings.seeds_dir / "harbour.txt").write_text("The harbour keeps forty boats in winter.\n", encoding="utf-8")

    response = admin.post("/index/rebuild", params={"wait": "false"})

    assert response.status_code == 202, response.text
    assert (response.json()["kind"], response.json()["files"]) == ("rebuild", 0)
    record = followed(admin, response.headers["location"])
    assert record["status"] == "done"
    assert (record["result"]["added"], record["result"]["unchanged"]) == (1, len(CORPUS))
    assert "harbour" in doc_ids(admin)


def test_the_recent_builds_are_listed_newest_first(admin: TestClient) -> None:
    assert admin.get("/index/builds").json() == []
    upload_id = admin.post("/documents", params={"wait": "false"}, files=[UPLOADS[0]]).json()["id"]
    rebuild_id = admin.post("/index/rebuild", params={"wait": "false"}).json()["id"]
    for build_id in (upload_id, rebuild_id):
        followed(admin, f"/index/builds/{build_id}")

    listed = admin.get("/index/builds").json()
    assert [(b["id"], b["kind"], b["status"]) for b in listed] == [
        (rebuild_id, "rebuild", "done"),
        (upload_id, "upload", "done"),
    ]
    assert [b["id"] for b in admin.get("/index/builds", params={"limit": 1}).json()] == [rebuild_id]
    assert admin.get("/index/builds", params={"limit": 0}).status_code == 422


@pytest.mark.parametrize("build_id", ["0123456789abcdef", "0123456789ABCDEF", "not-an-id"])
def test_an_unknown_build_is_a_404(admin: TestClient, build_id: str) -> None:
    response = admin.get(f"/index/builds/{build_id}")
    assert response.status_code == 404 and error_of(response)["code"] == "build_not_found"


def test_deleting_a_document_removes_it_from_answers(admin: TestClient, settings: Settings) -> None:
    [doc_id] = accepted(upload(admin, file("rivers.pdf", pdf_bytes(ENGLISH_PAGES), PDF))).values()
    question = "How much did the survey cost in euros?"
    evidence_from(admin, question, doc_id)

    response = admin.delete(f"/documents/{doc_id}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["doc_id"] == doc_id and body["deleted"] == "uploads/rivers.pdf" and body["index"]["removed"] == 1
    assert not (settings.seeds_dir / "uploads" / "rivers.pdf").exists()
    answer = admin.post("/ask", json={"question": question, "top_k": 10}).json()
    assert doc_id not in {e["citation"]["doc_id"] for e in answer["evidence"]}
    assert doc_id not in {p["doc_id"] for p in answer["passages"]}
    assert doc_id not in doc_ids(admin)
    assert admin.get(f"/documents/{doc_id}").status_code == 404
    assert error_of(admin.delete(f"/documents/{doc_id}"))["code"] == "document_not_found"


def test_a_seed_document_can_be_deleted_too(admin: TestClient, settings: Settings) -> None:
    assert admin.delete("/documents/zoo").status_code == 200
    assert "zoo" not in doc_ids(admin) and not (settings.seeds_dir / "zoo.html").exists()


def test_a_changed_file_re_embeds_only_that_file(admin: TestClient, settings: Settings, embedder: HashEmbedder) -> None:
    unchanged = admin.post("/index/rebuild")
    assert unchanged.status_code == 200, unchanged.text
    assert (unchanged.json()["unchanged"], unchanged.json()["embedded_passages"]) == (len(CORPUS), 0)

    tea = settings.seeds_dir / "tea_zh.txt"
    tea.write_text("碧螺春产于江苏苏州的太湖洞庭山，是中国十大名茶之一。\n\n" + tea.read_text("utf-8"), "utf-8")
    embedder.calls.clear()
    body = admin.post("/index/rebuild").json()

    assert (body["added"], body["changed"], body["removed"], body["unchanged"]) == (0, 1, 0, len(CORPUS) - 1)
    store = open_local(settings).documents
    tea_chunks = [c for c in store.chunks(list(range(store.chunk_count))) if c.doc_id == "tea_zh"]
    # build_index embeds the passages first: that call's size is what was embedded anew.
    assert body["embedded_passages"] == embedder.calls[0][0] == len(tea_chunks)
    assert body["reused_vectors"] > 0


def test_the_same_name_twice_gets_a_suffix_and_overwrites_nothing(admin: TestClient, settings: Settings) -> None:
    first = pdf_bytes(ENGLISH_PAGES)
    accepted(upload(admin, file("report.pdf", first, PDF)))
    body = upload(admin, file("report.pdf", b"Coffee is grown in the hills of Yunnan.\n", "text/plain")).json()

    assert body["files"][0]["stored_as"] == "uploads/report-2.pdf" and body["files"][0]["doc_id"] == "report-2"
    assert (settings.seeds_dir / "uploads" / "report.pdf").read_bytes() == first


def test_good_and_bad_files_in_one_upload_are_answered_each(admin: TestClient) -> None:
    response = upload(
        admin,
        file("good.md", b"# Harbour notes\n\nThe harbour holds forty fishing boats in winter.\n", "text/markdown"),
        file("../bad.md", b"# Escape\n\nTrying to leave the folder.\n", "text/markdown"),
    )
    good, bad = response.json()["files"]
    assert good["accepted"] and good["doc_id"] == "good" and good["reason"] is None
    assert not bad["accepted"] and bad["doc_id"] is None and "is a path" in bad["reason"]
    assert doc_ids(admin) == {*(Path(n).stem for n in CORPUS), "good"}


# --- damaged and hostile files -----------------------------------------------------------------


def _bomb() -> bytes:
    return with_member(docx_bytes(TEA_EN), "word/media/filler.bin", (MAX_UNZIPPED_MB + 1) * MB)


HOSTILE = [
    ("truncated.pdf", lambda: pdf_bytes(ENGLISH_PAGES)[:1500], PDF, "truncated PDF"),
    ("locked.pdf", lambda: pdf_bytes(ENGLISH_PAGES, encrypt="secret"), PDF, "encrypted PDF (needs a password)"),
    ("scan.pdf", image_only_pdf, PDF, "no text layer (scanned?)"),
    ("noise.pdf", lambda: b"%PDF-1.7\n" + random.Random(0).randbytes(3000) + b"\n%%EOF\n", PDF, "corrupt PDF"),
    ("huge.txt", lambda: b"word " * 240_000, "text/plain", "too large: over the limit of 1 MB"),
    ("bomb.docx", _bomb, DOCX, "zip bomb?"),
    ("cut.docx", lambda: docx_bytes(TEA_EN)[:2000], DOCX, "corrupt or truncated DOCX"),
    ("old.docx", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000), DOCX, "password-protected DOCX"),
    ("../escape.txt", lambda: b"Out of the folder.\n", "text/plain", "is a path, not a file name"),
    ("/etc/cron.d/job.txt", lambda: b"An absolute path.\n", "text/plain", "is a path, not a file name"),
    ("..\\..\\windows.txt", lambda: b"Backslashes.\n", "text/plain", "is a path, not a file name"),
    (".bashrc.txt", lambda: b"A dot file.\n", "text/plain", "is a hidden file"),
    ("photo.txt", lambda: b"Declared as a picture.\n", "image/png", "declared content type 'image/png'"),
    ("setup.exe", lambda: b"MZ\x90\x00" + bytes(200), "application/x-msdownload", "unsupported file type '.exe'"),
    ("archive.zip", lambda: b"PK\x05\x06" + bytes(18), "application/zip", "unsupported file type '.zip'"),
    ("random.txt", lambda: random.Random(1).randbytes(4000), "text/plain", "binary file"),
    ("empty.txt", lambda: b"", "text/plain", "empty file"),
    ("blank.html", lambda: b"<html><body><script>alert(1)</script></body></html>", "text/html", "no text left"),
    ("front.md", lambda: b"---\ntitle: [unclosed\n---\nBody.\n", "text/markdown", "unparsable front matter"),
    ("copy.txt", lambda: CORPUS["panda_zh.txt"].encode(), "text/plain", "duplicate of panda_zh"),
]


def test_twenty_damaged_or_hostile_files_each_get_their_reason_and_the_index_keeps_serving(
    admin: TestClient, settings: Settings
) -> None:
    before_files, before_ids = files_in(settings.seeds_dir), doc_ids(admin)
    before_answer = admin.post("/ask", json={"question": "What do giant pandas eat?"}).json()

    response = upload(admin, *(file(name, make(), kind) for name, make, kind, _ in HOSTILE))

    assert len(HOSTILE) == 20
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["index"] is None
    for (name, _, _, reason), outcome in zip(HOSTILE, body["files"], strict=True):
        assert outcome["name"] == name and not outcome["accepted"], outcome
        assert reason in outcome["reason"], (name, outcome["reason"])
        assert outcome["doc_id"] is None and outcome["stored_as"] is None
    assert files_in(settings.seeds_dir) == before_files
    assert doc_ids(admin) == before_ids
    after_answer = admin.post("/ask", json={"question": "What do giant pandas eat?"}).json()
    assert after_answer["evidence"] == before_answer["evidence"]
    assert not (settings.seeds_dir.parent / "escape.txt").exists()


def test_a_nul_in_a_file_name_is_refused(admin: TestClient, settings: Settings) -> None:
    # Clients percent-encode a NUL in a file name; a raw one has to be written by hand.
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="evil\x00.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nA NUL in the name.\r\n--XyZ--\r\n"
    )
    response = admin.post("/documents", content=body, headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert response.status_code == 200, response.text
    assert "control characters" in response.json()["files"][0]["reason"]
    assert files_in(settings.seeds_dir) == SEED_FILES


def test_a_malformed_multipart_body_is_a_400(admin: TestClient) -> None:
    response = admin.post("/documents", content=b"not multipart", headers={"Content-Type": "multipart/form-data"})
    assert response.status_code == 400 and "multipart" in error_of(response)["message"]


def test_an_upload_without_files_is_a_422(admin: TestClient) -> None:
    response = admin.post("/documents", data={"note": "no files"})
    assert response.status_code == 422 and "files" in error_of(response)["message"]


# --- limits ------------------------------------------------------------------------------------


def test_an_upload_over_the_request_limit_is_a_413(admin: TestClient, settings: Settings) -> None:
    parts = [file(f"part{n}.txt", b"x" * (MB - 1000), "text/plain") for n in range(5)]  # under 1 MB each, 5 in all

    response = upload(admin, *parts)

    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert files_in(settings.seeds_dir) == SEED_FILES


def test_a_streamed_upload_over_the_limit_is_a_413_though_it_declares_no_length(admin: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n\r\n'
        for _ in range(5):
            yield b"y" * MB
        yield b"\r\n--XyZ--\r\n"

    response = admin.post("/documents", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=XyZ"})

    assert "content-length" not in response.request.headers
    assert response.status_code == 413 and error_of(response)["code"] == "payload_too_large"


def test_an_upload_over_the_json_limit_is_not_refused_for_it(admin: TestClient) -> None:
    text = "".join(f"The lighthouse keeper logged ship number {n} passing the cape.\n" for n in range(1200))  # 75 KB
    assert accepted(upload(admin, file("log.txt", text.encode(), "text/plain")))


def test_too_many_files_in_one_upload_is_a_413(admin: TestClient) -> None:
    response = upload(admin, *(file(f"n{n}.txt", f"Note {n}.".encode(), "text/plain") for n in range(26)))
    assert response.status_code == 413
    assert "26 files in one upload, over the limit of 25" in error_of(response)["message"]


# --- keys --------------------------------------------------------------------------------------

WRITES = [
    pytest.param("POST", "/documents", id="upload"),
    pytest.param("DELETE", "/documents/zoo", id="delete"),
    pytest.param("POST", "/index/rebuild", id="rebuild"),
    pytest.param("GET", "/index/builds/0123456789abcdef", id="build-status"),
]


@pytest.mark.parametrize(("method", "path"), [*WRITES[:3], pytest.param("POST", "/documents?wait=false", id="later")])
def test_writes_to_a_read_only_seeds_folder_are_a_403_that_says_why(
    admin: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch, method: str, path: str
) -> None:
    make_read_only(settings.seeds_dir, monkeypatch)
    files = [file("note.txt", b"A note about the harbour.\n")] if method == "POST" and "documents" in path else None

    response = admin.request(method, path, files=files)

    assert response.status_code == 403, response.text
    error = error_of(response)
    assert error["code"] == "seeds_not_writable" and "Read-only file system" in error["message"]
    assert files_in(settings.seeds_dir) == SEED_FILES


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_writes_are_refused_when_no_api_key_is_set(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, files=[file("a.txt", b"text")] if path == "/documents" else None)
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "writes_disabled" and "RAG_API_KEY" in error["message"]


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}], ids=["no-key", "wrong-key"])
def test_writes_need_the_right_key(
    settings: Settings, embedder: HashEmbedder, method: str, path: str, headers: dict[str, str]
) -> None:
    with TestClient(create_app(settings, FakePipeline(settings=settings))) as client:
        response = client.request(method, path, headers=headers)
    assert response.status_code == 401 and error_of(response)["code"] == "unauthorized"
    assert files_in(settings.seeds_dir) == SEED_FILES


def test_the_write_routes_refuse_before_reading_the_body(client: TestClient) -> None:
    # A 403 comes before the body is read: a large upload to a keyless server costs nothing.
    response = client.post("/documents", content=b"x" * (10 * MB), headers={"Content-Type": "multipart/form-data"})
    assert response.status_code == 403


# --- one write at a time, the previous index serving -------------------------------------------


class GatedEmbedder(HashEmbedder):
    """Holds every build at its first embedding until ``go`` is set; questions (queries) pass."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()
        self.go = threading.Event()

    def embed(self, texts: list[str], kind: Kind, progress: bool = False) -> np.ndarray:
        if kind == "passage":
            self.waiting.set()
            assert self.go.wait(30)
        return super().embed(texts, kind)


def test_questions_are_answered_from_the_previous_index_until_the_new_one_is_in(settings: Settings) -> None:
    gated = GatedEmbedder()
    with app_client(settings, gated) as client:
        results: list[Response] = []
        writer = threading.Thread(
            target=lambda: results.append(upload(client, file("rivers.pdf", pdf_bytes(ENGLISH_PAGES), PDF)))
        )
        writer.start()
        assert gated.waiting.wait(30)
        during = client.post("/ask", json={"question": "How much did the survey cost in euros?"})
        listed_during = doc_ids(client)
        gated.go.set()
        writer.join(30)
        after = doc_ids(client)

    assert during.status_code == 200 and "rivers" not in listed_during
    assert results[0].status_code == 200 and "rivers" in after


def test_concurrent_uploads_are_serialised_and_both_land(admin: TestClient) -> None:
    results: list[Response] = []
    notes = [f"Note {n} says the ferry leaves at {n} o'clock from pier {n}.\n" for n in range(2)]
    threads = [
        threading.Thread(target=lambda n=n: results.append(upload(admin, file(f"ferry{n}.txt", notes[n].encode()))))
        for n in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert [r.status_code for r in results] == [200, 200]
    assert {"ferry0", "ferry1"} <= doc_ids(admin)
    added = sorted(r.json()["index"]["added"] for r in results)
    assert added == [1, 1]  # the second build started from the first one's index
