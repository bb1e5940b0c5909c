"""rag/jobs.py: the records of writes that build later, read by any worker, and what a stopped server leaves."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.jobs import INTERRUPTED, KEEP_SECONDS, Jobs


def test_a_record_goes_from_queued_to_done_and_any_worker_reads_it(tmp_path: Path) -> None:
    builder, reader = Jobs(tmp_path), Jobs(tmp_path)  # two workers over one folder
    job = builder.create("upload", files=2)
    assert reader.get(job.id) == job and job.status == "queued" and job.files == 2
    builder.running(job)
    running = reader.get(job.id)
    assert running is not None and running.status == "running"

    builder.done(job, {"files": [], "index": None})

    read = reader.get(job.id)
    assert read is not None and read.status == "done" and read.result == {"files": [], "index": None}
    assert read.finished is not None and read.error is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{job.id}.json"]  # its lock is gone with it


def test_a_failed_record_says_why(tmp_path: Path) -> None:
    jobs = Jobs(tmp_path)
    job = jobs.failed(jobs.create("upload", files=1), "store_unavailable", "Qdrant did not answer")
    assert Jobs(tmp_path).get(job.id) == job
    assert job.error == {"code": "store_unavailable", "message": "Qdrant did not answer"}


def test_a_record_left_unfinished_by_a_stopped_process_reads_as_interrupted(tmp_path: Path) -> None:
    # The process makes a record and exits mid-"build", as a server stopped during an upload would.
    code = (
        "import os, sys; from pathlib import Path; from rag.jobs import Jobs\n"
        "print(Jobs(Path(sys.argv[1])).create('rebuild').id, flush=True)\n"
        "os._exit(0)"
    )
    made = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    job_id = made.stdout.strip()

    read = Jobs(tmp_path).get(job_id)

    assert read is not None and read.status == "failed"
    assert read.error == {"code": "interrupted", "message": INTERRUPTED}


def test_a_record_whose_builder_still_runs_is_not_interrupted(tmp_path: Path) -> None:
    builder = Jobs(tmp_path)
    job = builder.create("upload", files=1)  # this process holds its lock
    read = Jobs(tmp_path).get(job.id)
    assert read is not None and read.status == "queued" and read.error is None
    builder.done(job, {})


@pytest.mark.parametrize("job_id", ["../../etc/passwd", "", "0123456789abcdef", "0123456789ABCDEF", "x" * 16])
def test_an_unknown_or_malformed_id_is_none(tmp_path: Path, job_id: str) -> None:
    assert Jobs(tmp_path).get(job_id) is None


def test_a_damaged_record_is_none(tmp_path: Path) -> None:
    jobs = Jobs(tmp_path)
    job = jobs.done(jobs.create("upload", files=1), {})
    (tmp_path / f"{job.id}.json").write_text('{"id": "half', encoding="utf-8")
    assert jobs.get(job.id) is None


def test_old_finished_records_are_removed_when_a_new_one_is_made(tmp_path: Path) -> None:
    jobs = Jobs(tmp_path)
    old_done = jobs.done(jobs.create("upload", files=1), {})
    old_running = jobs.running(jobs.create("upload", files=1))  # a long build: still locked, kept however old
    recent = jobs.done(jobs.create("upload", files=1), {})
    long_ago = time.time() - KEEP_SECONDS - 60
    for job in (old_done, old_running):
        os.utime(tmp_path / f"{job.id}.json", (long_ago, long_ago))

    new = jobs.create("upload", files=1)

    assert jobs.get(old_done.id) is None
    assert jobs.get(old_running.id) is not None and jobs.get(recent.id) is not None
    for job in (old_running, new):
        jobs.done(job, {})


def test_the_recent_records_come_newest_first_up_to_the_limit(tmp_path: Path) -> None:
    jobs = Jobs(tmp_path)
    made = []
    for _ in range(3):
        made.append(jobs.done(jobs.create("upload", files=1), {}))
        time.sleep(0.002)  # creation times are kept to the millisecond: one apart each
    running = jobs.create("rebuild")

    assert [job.id for job in jobs.recent(10)] == [running.id, *[job.id for job in reversed(made)]]
    assert [job.id for job in jobs.recent(2)] == [running.id, made[-1].id]
    assert Jobs(tmp_path / "none").recent(5) == []
    jobs.done(running, {})
