"""Load bench for POST /ask: throughput and latency percentiles at several concurrencies.

Starts the app with uvicorn on loopback in a subprocess (the real pipeline, or the fake one with
--fake), runs N concurrent clients for a bounded time each, prints one row per concurrency and
exits non-zero if the highest concurrency saw any error.

    python bench/load.py --fake
    python bench/load.py --duration 20 --concurrency 1,4,16 --output reports/load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[1]
REAL_FACTORY = "api.app:create_app"
FAKE_FACTORY = "bench.fakes:create_fake_app"
QUESTIONS = (
    "How many parameters does DeepSeek-V3 have?",
    "DeepSeek-V3 的总参数量是多少？",
    "How much did it cost to train DeepSeek-V3?",
    "训练 DeepSeek-V3 花了多少钱？",
    "What is DeepSeek-R1?",
    "DeepSeek-R1 是如何训练的？",
    "Who founded DeepSeek?",
    "深度求索的创始人是谁？",
    "Why did Nvidia's share price fall?",
    "英伟达的股价为什么下跌？",
    "Did DeepSeek distill ChatGPT?",
    "什么是混合专家模型？",
    "What is the capital of France?",
    "美国的出口管制对中国的 AI 公司有什么影响？",
)


@dataclass(frozen=True)
class Result:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    throughput_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list; NaN when there is nothing to rank."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(factory: str, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until_ready(base_url: str, server: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    reason = "no answer"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}")
        try:
            response = httpx.get(f"{base_url}/readyz", timeout=2)
        except httpx.TransportError as exc:
            reason = f"{type(exc).__name__}"
        else:
            if response.status_code == 200:
                return
            error = response.json().get("error", {})
            if error.get("code") != "loading":
                raise RuntimeError(f"the server is not ready: {error.get('message')} (use --fake without an index)")
            reason = "still loading"
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready after {timeout:.0f}s ({reason})")


async def run_level(base_url: str, headers: dict[str, str], concurrency: int, duration: float) -> Result:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client_loop(client: httpx.AsyncClient, worker: int, stop_at: float) -> None:
        nonlocal errors
        turn = worker
        while time.perf_counter() < stop_at:
            question = QUESTIONS[turn % len(QUESTIONS)]
            turn += concurrency
            started = time.perf_counter()
            try:
                response = await client.post("/ask", json={"question": question})
                ok = response.status_code == 200 and "evidence" in response.json()
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            errors += not ok

    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=60) as client:
        started = time.perf_counter()
        stop_at = started + duration
        await asyncio.gather(*(client_loop(client, worker, stop_at) for worker in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return Result(
        concurrency=concurrency,
        requests=len(ordered),
        errors=errors,
        seconds=round(elapsed, 2),
        throughput_rps=round(len(ordered) / elapsed, 1),
        p50_ms=round(percentile(ordered, 50), 1),
        p95_ms=round(percentile(ordered, 95), 1),
        p99_ms=round(percentile(ordered, 99), 1),
    )


def print_table(results: list[Result], label: str) -> None:
    print(f"\nPOST /ask load ({label})")
    columns = ("requests", "req/s", "p50 ms", "p95 ms", "p99 ms")
    print(f"{'concurrency':>11}" + "".join(f"  {c:>8}" for c in columns) + f"  {'errors':>6}")
    for r in results:
        print(
            f"{r.concurrency:>11}  {r.requests:>8}  {r.throughput_rps:>8.1f}  {r.p50_ms:>8.1f}  "
            f"{r.p95_ms:>8.1f}  {r.p99_ms:>8.1f}  {r.errors:>6}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--fake", action="store_true", help="Serve bench.fakes.FakePipeline instead of the index.")
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds per concurrency level [10].")
    parser.add_argument("--concurrency", default="1,4,16", help="Comma-separated client counts [1,4,16].")
    parser.add_argument("--startup-timeout", type=float, default=180.0, help="Seconds to wait for /readyz [180].")
    parser.add_argument("--output", type=Path, help="Also write the results as JSON here.")
    args = parser.parse_args(argv)
    try:
        args.levels = [int(c) for c in args.concurrency.split(",")]
    except ValueError:
        parser.error(f"--concurrency has value '{args.concurrency}'. Expected integers such as 1,4,16.")
    if not args.levels or min(args.levels) < 1 or args.duration <= 0:
        parser.error("--concurrency needs counts of at least 1, and --duration must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    key = os.environ.get("RAG_API_KEY", "").strip()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    label = "fake pipeline" if args.fake else "real pipeline"
    with tempfile.TemporaryFile() as log:
        server = start_server(FAKE_FACTORY if args.fake else REAL_FACTORY, port, log)
        try:
            wait_until_ready(base_url, server, args.startup_timeout)
            asyncio.run(run_level(base_url, headers, 1, min(args.duration, 2.0)))  # warm-up, not reported
            results = [asyncio.run(run_level(base_url, headers, c, args.duration)) for c in args.levels]
        except RuntimeError as exc:
            log.seek(0)
            print(
                f"error: {exc}\n--- server output ---\n{log.read().decode(errors='replace')[-4000:]}", file=sys.stderr
            )
            return 2
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print_table(results, label)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        payload = {"pipeline": label, "duration_s": args.duration, "results": [asdict(r) for r in results]}
        args.output.write_text(json.dumps(payload, indent=2) + "\n", "utf-8")
    highest = max(results, key=lambda r: r.concurrency)
    if highest.errors:
        print(f"FAIL: {highest.errors} errors at concurrency {highest.concurrency}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
