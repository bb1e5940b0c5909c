"""Run a parser in a child process, so that a hostile file costs at most a time and a memory limit.

PDF and DOCX parsers are large libraries reading untrusted bytes: a crafted or damaged file can make
them loop, recurse or allocate without end. Each file is read in a child that is killed when it runs
over its time and cannot grow past its memory limit; whatever goes wrong there comes back as a
BadDocumentError with the reason, so the file is skipped and the build goes on.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import warnings
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from rag.errors import BadDocumentError

MB = 1024 * 1024

R = TypeVar("R")

# Forked, not spawned: a spawned or forkserver child re-imports the parent's main module and the
# parsers, half a second per file, and fails where there is no main file (python -c, a notebook).
# A forked child starts in milliseconds with the parsers loaded; it runs only the parser, which takes
# none of the locks that the parent's other threads (a model's) might hold at the fork.
_CONTEXT = multiprocessing.get_context("fork")


def run_isolated(parse: Callable[[bytes], R], raw: bytes, seconds: float, memory_bytes: int) -> R:
    """``parse(raw)`` in a child process; its result, or BadDocumentError with the reason it gave none."""
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(target=_child, args=(sender, parse, raw, memory_bytes), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(seconds):
            raise BadDocumentError(f"took longer than {seconds:g} s to read (stopped)")
        status, value = receiver.recv()
    except EOFError:
        child.join()
        raise BadDocumentError(f"the reader stopped with exit code {child.exitcode}") from None
    finally:
        child.kill()
        child.join()
        receiver.close()
    if status == "error":
        raise BadDocumentError(value)
    result: R = value
    return result


def _child(sender: Connection, parse: Callable[[bytes], Any], raw: bytes, memory_bytes: int) -> None:
    _limit_memory(memory_bytes)
    # A parser's complaints about a damaged file would reach the terminal from here, and warnings turned
    # into errors (as the tests do) would refuse files that read well enough: the outcome says it all.
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    try:
        outcome = ("ok", parse(raw))
    except BadDocumentError as error:
        outcome = ("error", str(error))
    except MemoryError:
        outcome = ("error", f"needs more than {memory_bytes // MB} MB of memory to read")
    except Exception as error:  # a damaged file can raise anything from deep inside a parser
        outcome = ("error", f"unreadable ({type(error).__name__}: {error})")
    sender.send(outcome)
    sender.close()


def _limit_memory(extra_bytes: int) -> None:
    # The child may grow by extra_bytes beyond what it shares with the parent at the fork (a parent
    # with a model loaded already maps gigabytes of address space).
    try:
        mapped = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    except OSError:
        return  # no /proc: the time limit still holds
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = mapped + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
