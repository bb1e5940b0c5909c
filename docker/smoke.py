#!/usr/bin/env python3
"""The HTTP half of `make docker-test`, run on the host against a started container (standard library only).

smoke.py wait URL [--timeout S] [--container NAME]   poll URL/readyz until 200; print the seconds it took
smoke.py ask URL [--api-key KEY]                     ask one English and one Chinese question; check that
                                                     cited answers come back and every quote is verbatim
smoke.py upload URL --api-key KEY                    upload a note with wait=false, follow its build to
                                                     the end, and ask a question only the note answers
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

# (question, words of which at least one must be in the quoted evidence); the answers are in seeds/.
QUESTIONS = [
    ("How much did it cost to train DeepSeek's V3 model?", ["600"]),
    ("Grok3 是哪家公司发布的？", ["xAI"]),
]
# A note the seeds know nothing of, and a question only it answers.
NOTE = ("harbour-note.md", "# 港口笔记\n\n港口冬季停泊四十艘渔船。\n")
NOTE_QUESTION = ("港口冬季停泊多少艘渔船？", ["四十"])
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 never goes through a proxy


def request(url: str, body: Any = None, api_key: str | None = None, timeout: float = 60) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with OPENER.open(req, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def running(container: str) -> bool:
    out = subprocess.run(
        ["podman", "container", "inspect", "--format", "{{.State.Running}}", container],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() == "true"


def failed_load(body: Any) -> bool:
    """A 503 from /readyz while loading has error code "loading"; any other code is a failed load."""
    try:
        code = json.loads(body)["error"]["code"] if isinstance(body, str) else body["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return False
    return code != "loading"


def wait(url: str, timeout: float, container: str | None) -> int:
    started = time.monotonic()
    last_check = 0.0
    while (elapsed := time.monotonic() - started) < timeout:
        try:
            status, body = request(f"{url}/readyz", timeout=2)
        except OSError:
            status, body = 0, None  # not listening yet
        if status == 200:
            print(f"{elapsed:.1f}")
            return 0
        if status == 503 and failed_load(body):
            print(f"the server failed to load: {body}", file=sys.stderr)
            return 1
        if container and elapsed - last_check >= 1:
            last_check = elapsed
            if not running(container):
                print(f"container {container} stopped before it was ready", file=sys.stderr)
                return 1
        time.sleep(0.1)
    print(f"not ready after {timeout:.0f}s", file=sys.stderr)
    return 1


def check_answer(url: str, question: str, expected: list[str], api_key: str | None) -> list[str]:
    status, answer = request(f"{url}/ask", {"question": question, "top_k": 5}, api_key)
    if status != 200:
        return [f"POST /ask answered {status}: {answer}"]
    problems = []
    if answer.get("answerable") is not True:
        problems.append("answerable is not true")
    evidence = answer.get("evidence") or []
    if not evidence:
        problems.append("no evidence")
    documents: dict[str, str] = {}
    for i, item in enumerate(evidence):
        citation = item.get("citation") or {}
        doc_id, start, end = citation.get("doc_id"), citation.get("start"), citation.get("end")
        if not (doc_id and citation.get("title") and isinstance(start, int) and isinstance(end, int) and end > start):
            problems.append(f"evidence {i}: incomplete citation {citation}")
            continue
        if doc_id not in documents:
            status, doc = request(f"{url}/documents/{doc_id}", api_key=api_key)
            documents[doc_id] = doc.get("text", "") if status == 200 else ""
        if documents[doc_id][start:end] != item.get("text"):
            problems.append(f"evidence {i}: the quote is not the cited document's text [{start}:{end}]")
    quoted = " ".join(item.get("text", "") for item in evidence)
    if evidence and not any(word.lower() in quoted.lower() for word in expected):
        problems.append(f"none of {expected} is in the quoted evidence")
    first = evidence[0] if evidence else {}
    title = (first.get("citation") or {}).get("title")
    print(f"  {question}\n    -> {len(evidence)} quotes; first: {first.get('text', '')[:80]!r} ({title})")
    return problems


def ask(url: str, api_key: str | None) -> int:
    if api_key:
        status, _ = request(f"{url}/ask", {"question": "test", "top_k": 1})
        if status != 401:
            print(f"POST /ask without the API key answered {status}, expected 401", file=sys.stderr)
            return 1
    failed = False
    for question, expected in QUESTIONS:
        for problem in check_answer(url, question, expected, api_key):
            print(f"    FAIL: {problem}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def upload(url: str, api_key: str, timeout: float = 300) -> int:
    """POST /documents?wait=false, then GET the build's Location until it is done; the note is answered from."""
    name, text = NOTE
    boundary = secrets.token_hex(16)
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        f"Content-Type: text/markdown\r\n\r\n{text}\r\n--{boundary}--\r\n"
    ).encode()
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": f"multipart/form-data; boundary={boundary}"}
    req = urllib.request.Request(f"{url}/documents?wait=false", data=body, headers=headers, method="POST")
    try:
        with OPENER.open(req, timeout=60) as response:
            status, location = response.status, response.headers.get("Location")
    except urllib.error.HTTPError as exc:
        status, location = exc.code, None
    if status != 202 or not location:
        print(f"POST /documents?wait=false answered {status} (Location {location}), expected 202", file=sys.stderr)
        return 1
    deadline = time.monotonic() + timeout
    while True:
        status, record = request(f"{url}{location}", api_key=api_key)
        if status != 200:
            print(f"GET {location} answered {status}: {record}", file=sys.stderr)
            return 1
        if record["status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    files = (record.get("result") or {}).get("files") or []
    if record["status"] != "done" or not files or not files[0]["accepted"]:
        print(f"the upload did not land: {record}", file=sys.stderr)
        return 1
    print(f"  {name} -> {files[0]['doc_id']}, built in {record['created']} .. {record['finished']}")
    question, expected = NOTE_QUESTION
    problems = check_answer(url, question, expected, api_key)
    for problem in problems:
        print(f"    FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_wait = sub.add_parser("wait")
    p_wait.add_argument("url")
    p_wait.add_argument("--timeout", type=float, default=300)
    p_wait.add_argument("--container")
    p_ask = sub.add_parser("ask")
    p_ask.add_argument("url")
    p_ask.add_argument("--api-key")
    p_upload = sub.add_parser("upload")
    p_upload.add_argument("url")
    p_upload.add_argument("--api-key", required=True)
    args = parser.parse_args()
    if args.command == "wait":
        return wait(args.url.rstrip("/"), args.timeout, args.container)
    if args.command == "upload":
        return upload(args.url.rstrip("/"), args.api_key)
    return ask(args.url.rstrip("/"), args.api_key)


if __name__ == "__main__":
    sys.exit(main())
