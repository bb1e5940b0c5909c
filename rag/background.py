"""Work started on a thread of its own while the caller goes on: loading that need not hold up start-up."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


def in_background(work: Callable[[], T], name: str) -> Future[T]:
    """``work()`` on a new thread; its result, or what it raised, is the future's.

    Not a daemon thread: a process that exits while the work runs (``rag model`` prints and exits while
    SentencePiece loads) would otherwise kill the thread inside C++ code at shutdown, which aborts it.
    """
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # handed to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=run, name=name).start()
    return future
