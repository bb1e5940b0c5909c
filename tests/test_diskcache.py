"""rag/text/diskcache.py: a table made once and read from its file after; made again when the file is missing,
damaged or of another format; a file that cannot be saved is a warning, not an error."""

from __future__ import annotations

import logging
import marshal
import zlib
from pathlib import Path

import pytest

from rag.diskcache import load_or_make

TABLE = {"熊猫": ["panda"], "竹子": ["bamboo"]}


class Maker:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, list[str]]:
        self.calls += 1
        return TABLE


@pytest.mark.parametrize("compress", [False, True])
def test_a_table_is_made_once_then_read_from_its_file(tmp_path: Path, compress: bool) -> None:
    path, make = tmp_path / "table", Maker()
    assert load_or_make(path, 1, make, "a table", compress) == TABLE
    assert load_or_make(path, 1, make, "a table", compress) == TABLE
    assert make.calls == 1
    assert [p.name for p in tmp_path.iterdir()] == ["table"]  # no temporary file left beside it
    saved = path.read_bytes()
    assert marshal.loads(zlib.decompress(saved) if compress else saved) == (1, TABLE)


def test_a_file_of_another_format_is_made_again(tmp_path: Path) -> None:
    path, make = tmp_path / "table", Maker()
    load_or_make(path, 1, lambda: {"old": []}, "a table")
    assert load_or_make(path, 2, make, "a table") == TABLE and make.calls == 1
    assert load_or_make(path, 2, make, "a table") == TABLE and make.calls == 1  # saved in the new format


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("damaged", [b"", b"not marshal", b"\xe9\x01\x00", zlib.compress(b"not marshal")])
def test_a_damaged_file_is_made_again(tmp_path: Path, damaged: bytes, compress: bool) -> None:
    path, make = tmp_path / "table", Maker()
    path.write_bytes(damaged)
    assert load_or_make(path, 1, make, "a table", compress) == TABLE and make.calls == 1
    assert load_or_make(path, 1, make, "a table", compress) == TABLE and make.calls == 1


def test_a_file_that_cannot_be_saved_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path, make = tmp_path / "missing-folder" / "table", Maker()
    with caplog.at_level(logging.WARNING, logger="rag.diskcache"):
        assert load_or_make(path, 1, make, "a table") == TABLE
    assert "could not cache a table" in caplog.text
    assert load_or_make(path, 1, make, "a table") == TABLE and make.calls == 2
