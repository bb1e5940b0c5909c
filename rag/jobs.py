"""Writes that answer at once and build later: one JSON record per build, readable by every server worker.

``POST /documents?wait=false`` checks the files, answers 202 with a record, and keeps them and rebuilds the
index on a thread of its own (``POST /index/rebuild?wait=false`` the same, without files); ``GET
/index/builds/{id}`` reads the record back, from whichever worker (RAG_WORKERS > 1) the request reaches.
The records live in a hidden folder of RAG_SEEDS_DIR (which `rag index` passes over), each written whole
to a temporary file and renamed, so a reader never sees half of one. While a record is queued or running,
its builder holds a lock on a file beside it; the lock goes with the process, so a record left unfinished
by a server that stopped mid-build reads as failed, whatever process ids the next server gets.
"""

from __future__ import annotations

import fcntl
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

JOBS = ".builds"  # the folder under RAG_SEEDS_DIR that holds the records
KEEP_SECONDS = 7 * 24 * 3600  # finished records older than this are removed when a new one is made
Kind = Literal["upload", "rebuild"]
Status = Literal["queued", "running", "done", "failed"]
INTERRUPTED = (
    "the server stopped before this build finished: the index is the one before it, and files an upload had "
    "kept in RAG_SEEDS_DIR/uploads are indexed by the next build (POST /index/rebuild); upload again any that "
    "GET /documents does not list then"
)


@dataclass(frozen=True)
class Job:
    """One build: waiting for the write lock, building, or finished with its answer or its error."""

    id: str
    kind: Kind
    status: Status
    files: int  # how many files the upload carried (0 for a rebuild)
    created: str  # ISO 8601, UTC
    finished: str | None = None
    result: dict[str, Any] | None = None  # when done: what the write answers when it waits
    error: dict[str, str] | None = None  # when failed: {"code", "message"}, as an HTTP error's body has them


class Jobs:
    """The records in ``folder``: made, moved along and read by id."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._held: dict[str, IO[bytes]] = {}  # the locks of this process's unfinished records
        self._mutex = threading.Lock()

    def create(self, kind: Kind, files: int = 0) -> Job:
        """A queued record, locked by this process until ``done`` or ``failed``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._prune()
        job = Job(id=secrets.token_hex(8), kind=kind, status="queued", files=files, created=_now())
        lock = self._lock_path(job.id).open("xb")
        fcntl.flock(lock, fcntl.LOCK_EX)
        with self._mutex:
            self._held[job.id] = lock
        return self._write(job)

    def running(self, job: Job) -> Job:
        return self._write(replace(job, status="running"))

    def done(self, job: Job, result: dict[str, Any]) -> Job:
        return self._finish(replace(job, status="done", finished=_now(), result=result))

    def failed(self, job: Job, code: str, message: str) -> Job:
        return self._finish(replace(job, status="failed", finished=_now(), error={"code": code, "message": message}))

    def get(self, job_id: str) -> Job | None:
        """The record, or None for an id never made here (or one too old to be kept)."""
        if not (len(job_id) == 16 and all(c in "0123456789abcdef" for c in job_id)):
            return None
        job = self._read(job_id)
        if job is not None and job.status in ("queued", "running") and not self._builder_alive(job_id):
            job = self._read(job_id)  # it may have finished in between
            if job is not None and job.status in ("queued", "running"):
                return replace(job, status="failed", error={"code": "interrupted", "message": INTERRUPTED})
        return job

    def recent(self, limit: int) -> list[Job]:
        """Up to ``limit`` records, the newest first (finished ones are kept for KEEP_SECONDS)."""
        jobs = (self.get(path.stem) for path in self.folder.glob("*.json"))
        return sorted((job for job in jobs if job is not None), key=lambda job: job.created, reverse=True)[:limit]

    def _read(self, job_id: str) -> Job | None:
        try:
            return Job(**json.loads((self.folder / f"{job_id}.json").read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def _builder_alive(self, job_id: str) -> bool:
        """Whether a process still holds the record's lock (the lock goes when its process does)."""
        try:
            with self._lock_path(job_id).open("rb") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
                fcntl.flock(lock, fcntl.LOCK_UN)
                return False
        except FileNotFoundError:
            return False

    def _finish(self, job: Job) -> Job:
        self._write(job)
        with self._mutex:
            lock = self._held.pop(job.id, None)
        self._lock_path(job.id).unlink(missing_ok=True)
        if lock is not None:
            lock.close()
        return job

    def _lock_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.lock"

    def _write(self, job: Job) -> Job:
        path = self.folder / f"{job.id}.json"
        temporary = path.with_name(f".{job.id}.{secrets.token_hex(4)}.tmp")
        try:
            temporary.write_text(json.dumps(asdict(job), ensure_ascii=False), encoding="utf-8")
            temporary.replace(path)
        except OSError:
            temporary.unlink(missing_ok=True)  # a full disk leaves no half-written file behind
            raise
        return job

    def _prune(self) -> None:
        cutoff = time.time() - KEEP_SECONDS
        for path in self.folder.glob("*.json"):
            job = self.get(path.stem)
            try:
                old = path.stat().st_mtime < cutoff
            except OSError:
                continue
            if old and (job is None or job.status in ("done", "failed")):
                path.unlink(missing_ok=True)
                self._lock_path(path.stem).unlink(missing_ok=True)  # left by a server that stopped


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
