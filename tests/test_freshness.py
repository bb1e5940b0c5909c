"""Whether an index still reflects its documents and settings (rag.freshness): stale when a document is
changed, added or removed, or the model or the chunking settings change; and no document read when every
file has the size and modification time the build recorded.

Every test runs twice: on files just written, which a build does not record (it reads them again), and on
files written long ago, which it does.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from embedders import CORPUS, HashEmbedder, build_local, write_corpus

from rag import freshness
from rag.config import Settings
from rag.freshness import staleness
from rag.stores.base import Manifest
from rag.stores.local import LocalBackend

LONG_AGO = 1_000_000_000  # seconds since the epoch: 2001


@pytest.fixture(params=[pytest.param(False, id="just-written"), pytest.param(True, id="written-long-ago")])
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    seeds = write_corpus(tmp_path / "seeds")
    if request.param:
        _settle(seeds)
    return Settings(seeds_dir=seeds, index_dir=tmp_path / "index", embedding_model=HashEmbedder().name, chunk_size=100)


def _just_written(tmp_path: Path) -> Settings:
    seeds = write_corpus(tmp_path / "seeds")
    return Settings(seeds_dir=seeds, index_dir=tmp_path / "index", embedding_model=HashEmbedder().name)


def _settle(folder: Path) -> None:
    for path in folder.rglob("*"):
        os.utime(path, (LONG_AGO, LONG_AGO))


def build(settings: Settings) -> None:
    build_local(settings)


def read_manifest(index_dir: Path) -> Manifest | None:
    return LocalBackend(index_dir).manifest()


def _edit(settings: Settings) -> Settings:
    (settings.seeds_dir / "panda_zh.txt").write_text(CORPUS["panda_zh.txt"] + "\n大熊猫的寿命约为二十年。", "utf-8")
    return settings


def _edit_keeping_time(settings: Settings) -> Settings:
    path = settings.seeds_dir / "panda_en.md"
    before = path.stat()
    path.write_text(path.read_text("utf-8") + "\nRed pandas are not bears.", "utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    return settings


def _add(settings: Settings) -> Settings:
    (settings.seeds_dir / "extra.md").write_text("# Red pandas\n\nRed pandas are not bears.", "utf-8")
    return settings


def _remove(settings: Settings) -> Settings:
    (settings.seeds_dir / "tea_zh.txt").unlink()
    return settings


def _add_to_subfolder(settings: Settings) -> Settings:
    (settings.seeds_dir / "more").mkdir()
    (settings.seeds_dir / "more" / "note.txt").write_text("Pandas sleep a lot.", "utf-8")
    return settings


STALE: list[Any] = [
    pytest.param(_edit, "documents changed", id="document-edited"),
    pytest.param(_edit_keeping_time, "documents changed", id="document-edited-keeping-its-time"),
    pytest.param(_add, "documents changed", id="document-added"),
    pytest.param(_remove, "documents changed", id="document-removed"),
    pytest.param(_add_to_subfolder, "documents changed", id="document-added-in-subfolder"),
    pytest.param(lambda s: dataclasses.replace(s, embedding_model="other/model"), "other/model", id="model"),
    pytest.param(lambda s: dataclasses.replace(s, chunk_size=200), "chunking", id="chunk-size"),
    pytest.param(lambda s: dataclasses.replace(s, chunk_overlap=20), "chunking", id="chunk-overlap"),
    pytest.param(lambda s: dataclasses.replace(s, index_dir=s.index_dir.parent / "other"), "no index", id="no-index"),
]


def test_a_fresh_build_is_not_stale(settings: Settings) -> None:
    build(settings)
    assert staleness(read_manifest(settings.index_dir), settings, [settings.seeds_dir]) is None


@pytest.mark.parametrize(("change", "reason"), STALE)
def test_the_index_is_stale_when_what_it_covers_changes(
    settings: Settings, change: Callable[[Settings], Settings], reason: str
) -> None:
    build(settings)
    changed = change(settings)
    found = staleness(read_manifest(changed.index_dir), changed, [changed.seeds_dir])
    assert found is not None and reason in found


def test_the_index_is_stale_when_the_sources_change(settings: Settings) -> None:
    build(settings)
    one_file = [settings.seeds_dir / "panda_en.md"]
    found = staleness(read_manifest(settings.index_dir), settings, one_file)
    assert found is not None and "panda_en.md" in found


def _unsupported(settings: Settings) -> None:
    (settings.seeds_dir / "notes.json").write_text("{}", "utf-8")


def _hidden(settings: Settings) -> None:
    (settings.seeds_dir / ".draft.md").write_text("# Draft\n\nNot yet.", "utf-8")


def _touched(settings: Settings) -> None:
    os.utime(settings.seeds_dir / "zoo.html", (1, 1))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_unsupported, id="unsupported-file-added"),
        pytest.param(_hidden, id="hidden-file-added"),
        pytest.param(_touched, id="file-touched-not-changed"),
    ],
)
def test_files_that_are_not_documents_leave_the_index_fresh(
    settings: Settings, change: Callable[[Settings], None]
) -> None:
    build(settings)
    change(settings)
    assert staleness(read_manifest(settings.index_dir), settings, [settings.seeds_dir]) is None


def test_a_relative_path_to_the_same_folder_is_the_same_source(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(settings)
    monkeypatch.chdir(tmp_path)
    assert staleness(read_manifest(settings.index_dir), settings, [Path("seeds")]) is None


# --- what a build records, and when the check reads the documents ------------------------------


def test_a_build_records_the_files_written_long_ago_only(tmp_path: Path) -> None:
    settings = _just_written(tmp_path)
    assert build_local(settings).manifest.files == {}  # just written: each could change again within the tick
    _settle(settings.seeds_dir)
    files = build_local(settings).manifest.files
    expected = {str((settings.seeds_dir / name).resolve()): [len(text.encode())] for name, text in CORPUS.items()}
    assert {path: [size] for path, (size, _) in files.items()} == expected
    assert {mtime for _, mtime in files.values()} == {LONG_AGO * 10**9}
    manifest = read_manifest(settings.index_dir)
    assert manifest is not None and manifest.files == files


def test_files_as_the_build_recorded_them_are_not_read(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    _settle(settings.seeds_dir)
    build(settings)

    def read(files: object) -> str:
        raise AssertionError("the documents were read")

    monkeypatch.setattr(freshness, "corpus_hash", read)
    assert staleness(read_manifest(settings.index_dir), settings, [settings.seeds_dir]) is None


def test_a_file_just_written_is_read_even_with_its_size_and_time(tmp_path: Path) -> None:
    settings = _just_written(tmp_path)
    build(settings)  # within the clock tick of the files' writing, as far as the build can tell
    path = settings.seeds_dir / "panda_en.md"
    before = path.stat()
    path.write_text(path.read_text("utf-8").replace("bamboo", "BAMBOO"), "utf-8")  # the same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    found = staleness(read_manifest(settings.index_dir), settings, [settings.seeds_dir])
    assert found == "documents changed since the index was built"


def test_an_index_built_before_files_were_recorded_is_checked_by_content(settings: Settings) -> None:
    build(settings)
    path = settings.index_dir / "current" / "manifest.json"
    raw = json.loads(path.read_text("utf-8"))
    del raw["files"]
    path.write_text(json.dumps(raw), "utf-8")
    manifest = read_manifest(settings.index_dir)
    assert manifest is not None and manifest.files == {}
    assert staleness(manifest, settings, [settings.seeds_dir]) is None
    _edit(settings)
    assert staleness(manifest, settings, [settings.seeds_dir]) == "documents changed since the index was built"
