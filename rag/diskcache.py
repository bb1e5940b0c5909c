"""A table that takes seconds to make and never changes until its inputs do, kept in a file (``marshal``).

The caller names the file after everything the table is made from (a version, a digest), so a file found is
one made from the same inputs; a file that is missing, damaged, of another format or another user's is made
again. Saving is atomic (a temporary file renamed), so two processes making it at once leave one whole file,
and a file that cannot be saved is only a warning: the next start makes the table again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import logging
import marshal
import os
import tempfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("rag.diskcache")


def load_or_make(path: Path, version: int, make: Callable[[], Any], what: str, compress: bool = False) -> Any:
    """The value saved in ``path`` with this format ``version``, or ``make()``'s, saved there for next time;
    ``compress``ed with zlib (a third of the size, 0.1 s more to read 15 MB)."""
    value = load(path, version, compress)
    if value is None:
        value = make()
        save(path, version, value, what, compress)
    return value


def load(path: Path, version: int, compress: bool = False) -> Any:
    """The value saved in ``path`` with this format ``version``; None when there is none to read."""
    try:
        # Only a file of this user's or root's: another user could have left one in a shared /tmp.
        if path.stat().st_uid in (os.getuid(), 0):
            saved = path.read_bytes()  # and ``loads``: five times faster than ``marshal.load`` from the file
            saved_version, value = marshal.loads(zlib.decompress(saved) if compress else saved)
            if saved_version == version:
                return value
    except (OSError, EOFError, ValueError, TypeError, zlib.error):
        pass  # none yet, or unreadable
    return None


def save(path: Path, version: int, value: Any, what: str, compress: bool = False) -> None:
    """``value`` in ``path``, whole or not at all; a warning when it cannot be written."""
    temporary: Path | None = None
    saved = marshal.dumps((version, value))
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
        temporary = Path(name)
        with os.fdopen(fd, "wb") as f:
            f.write(zlib.compress(saved, 1) if compress else saved)
        temporary.chmod(0o644)  # mkstemp's file is private; a server may run as another user
        temporary.replace(path)
    except OSError as error:
        log.warning("could not cache %s in %s (%s): it is made again next time", what, path, error)
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def entry_key(*parts: bytes) -> bytes:
    """A key for one entry of such a table (a text, a file's name and bytes): 16 bytes, whatever its size."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.digest()


def field_values(instance: Any) -> tuple[Any, ...]:
    """A dataclass's fields as they are, for ``marshal`` (``dataclasses.astuple`` would copy each list and dict)."""
    return tuple(getattr(instance, f.name) for f in dataclasses.fields(instance))


def code_digest(modules: Iterable[str], *inputs: bytes) -> str:
    """A digest of the named modules' source (found, not imported) and of ``inputs``: what a table made by that
    code from those inputs may be named by."""
    digest = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(name)
        digest.update(Path(spec.origin).read_bytes())
    for data in inputs:
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:16]


def save_alone(path: Path, prefix: str, version: int, value: Any, what: str) -> None:
    """``save`` (compressed), then remove the files beside ``path`` whose names begin with ``prefix``: the same
    table made by other code, which is never read again."""
    with contextlib.suppress(OSError):  # a folder that cannot be made: ``save`` warns
        path.parent.mkdir(parents=True, exist_ok=True)
    save(path, version, value, what, compress=True)
    for other in path.parent.glob(f"{prefix}*"):
        if other != path:
            other.unlink(missing_ok=True)
