"""Serving footprint: the figures of issue 15's "done when" list in one table (``make bench`` prints it).

- ``rag serve``, process start to ``/readyz`` 200, the second of two starts (a warm disk), and the
  server's peak resident memory after it has answered the benchmark questions;
- ``POST /ask`` p50 over the benchmark questions, one at a time, with the reader off, against 1.3 times
  the one-query-embedding floor measured in the same run: the server's own ``embed`` stage in the same
  responses (and, for reference, the embedder alone in this process);
- the same with the reader on, when it loads, against the server's ``embed`` + reader stages + 10 ms;
- index throughput of the embedder (``bench.runtime``, a fresh process);
- the image's size and its start to ready, from ``reports/docker.json``, which ``make docker-test`` writes.

    python -m bench.footprint [--output reports/footprint.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import httpx

from bench.load import free_port
from bench.machine import describe
from bench.runtime import run_child
from rag.config import Settings
from rag.embedding import load_embedder
from rag.evaluation.metrics import load_questions

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "benchmarks" / "questions.jsonl"
DOCKER_REPORT = ROOT / "reports" / "docker.json"
READER_STAGE = "reader"


@dataclass
class Served:
    """One server's figures: start to ready, latencies and its stage timings, peak memory."""

    ready_s: float
    latency_ms: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    error: str = ""

    def p50(self, stage: str | None = None) -> float:
        values = self.latency_ms if stage is None else self.stages.get(stage, [])
        return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, help="Also write the figures as JSON here.")
    parser.add_argument("--no-reader", action="store_true", help="Skip the server with the reader on.")
    args = parser.parse_args(argv)
    questions = [q.question for q in load_questions(QUESTIONS)]

    embedder = load_embedder(Settings.from_env())
    embedder.embed(questions[:1], "query")
    floor = []
    for question in questions:
        started = time.perf_counter()
        embedder.embed([question], "query")
        floor.append((time.perf_counter() - started) * 1000)
    del embedder

    serve(questions[:3], {})  # the first start reads the files from disk; the figures are the second's
    off = serve(questions, {"RAG_READER": "off"})
    on = None if args.no_reader else serve(questions, {"RAG_READER": "on"})
    runtime = run_child(Settings.from_env().runtime)
    docker = json.loads(DOCKER_REPORT.read_text("utf-8")) if DOCKER_REPORT.is_file() else {}

    rows = table(off, on, statistics.median(floor), runtime, docker)
    machine = describe()  # once: the table and the JSON name the same load average
    print(f"\nServing footprint ({machine})")
    width = max(len(r[0]) for r in rows)
    for measure, target, measured in rows:
        print(f"{measure:<{width}}  {target:>28}  {measured}")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        payload = [{"measure": m, "target": t, "measured": v} for m, t, v in [("machine", "", machine), *rows[1:]]]
        args.output.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return 0


def table(
    off: Served, on: Served | None, floor_ms: float, runtime: dict[str, float], docker: dict[str, float]
) -> list[tuple[str, str, str]]:
    embed = off.p50("embed")
    rows = [
        ("measure", "target", "measured"),
        ("image size", "<= 700 MB", _docker(docker, "image_mb", "{:.0f} MB")),
        ("container start to /readyz 200", "<= 3 s", _docker(docker, "ready_s", "{:.1f} s")),
        ("rag serve start to ready (warm disk)", "<= 2 s", f"{off.ready_s:.2f} s"),
        ("serving peak RSS (reader off)", "<= 500 MB", f"{off.peak_rss_mb:.0f} MB"),
        (
            "/ask p50, reader off",
            f"<= 1.3 x embed = {1.3 * embed:.1f} ms",
            f"{off.p50():.1f} ms (embed stage {embed:.1f} ms; embedder alone {floor_ms:.1f} ms)",
        ),
    ]
    if on is None or on.error:
        rows.append(("/ask p50, reader on", "<= embed + reader + 10 ms", on.error if on else "skipped"))
    else:
        bound = on.p50("embed") + on.p50(READER_STAGE) + 10
        measured = f"{on.p50():.1f} ms (embed {on.p50('embed'):.1f}, reader {on.p50(READER_STAGE):.1f} ms)"
        rows.append(("/ask p50, reader on", f"<= {bound:.1f} ms", measured))
        rows.append(("serving peak RSS (reader on)", "", f"{on.peak_rss_mb:.0f} MB"))
    rows.append(("index build texts/s", ">= 300", f"{runtime['texts_per_s']}"))
    rows.append(("benchmark quality", "unchanged +-0.005", "asserted by make test (tests/test_benchmark.py)"))
    return rows


def _docker(report: dict[str, float], key: str, form: str) -> str:
    if key not in report:
        return "not measured: run make docker-test"
    return form.format(report[key]) + f" (make docker-test, {report.get('measured_at', '?')})"


def serve(questions: list[str], env: dict[str, str]) -> Served:
    """Start ``rag serve`` on a free port, time it to ready, ask each question once, read its peak RSS."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).with_name("rag")), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        server = subprocess.Popen(command, cwd=ROOT, env=server_environment(env), stdout=log, stderr=subprocess.STDOUT)
        try:
            error = _wait_ready(base, server, log)
            served = Served(ready_s=time.perf_counter() - started, error=error)
            if not error:
                _ask_each(base, questions, served)
                served.peak_rss_mb = _peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(15)
    return served


def server_environment(env: dict[str, str]) -> dict[str, str]:
    """The server's environment: this one with ``env`` over it, offline, no API key, and Python's bytecode cache
    written as a normal install writes it (the image compiles it when it is built). A shell that sets
    PYTHONDONTWRITEBYTECODE would otherwise have every start compile the sources again (0.2 to 0.3 s of the time
    to ready on a 2-core machine), which a warm start does not."""
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**inherited, "HF_HUB_OFFLINE": "1", "RAG_API_KEY": "", **env}


def _wait_ready(base: str, server: subprocess.Popen[bytes], log: IO[bytes], timeout: float = 300) -> str:
    """'' once /readyz answers 200; the server's reason when it says it cannot be ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            return f"the server exited: {log.read().decode(errors='replace')[-300:]}"
        try:
            response = httpx.get(f"{base}/readyz", timeout=2)
        except httpx.TransportError:
            time.sleep(0.02)
            continue
        if response.status_code == 200:
            return ""
        error = response.json().get("error", {})
        if error.get("code") != "loading":
            return f"not available: {error.get('message', response.status_code)}"
        time.sleep(0.02)
    return f"not ready after {timeout:.0f} s"


def _ask_each(base: str, questions: list[str], served: Served) -> None:
    """Each question once over one kept-alive connection, with the standard library's client: httpx's own
    work would add about a millisecond to each figure, which is not the server's."""
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=60)
    try:
        for question in questions[:3]:  # warm-up: first requests set up buffers
            _post(connection, question)
        for question in questions:
            started = time.perf_counter()
            status, body = _post(connection, question)
            served.latency_ms.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise RuntimeError(f"POST /ask answered {status}: {body[:300]!r}")
            for stage, ms in json.loads(body)["timings_ms"].items():
                served.stages.setdefault(stage, []).append(ms)
    finally:
        connection.close()


def _post(connection: http.client.HTTPConnection, question: str) -> tuple[int, bytes]:
    body = json.dumps({"question": question})
    connection.request("POST", "/ask", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    sys.exit(main())
