"""Two ways to reach Qdrant behind one small interface: the embedded engine and a server or cluster.

- ``EdgeEngine``: ``qdrant-edge-py``, the server's storage and search core running in this process.
  A collection is a shard directory; aliases are one JSON file replaced atomically.
- ``ClientEngine``: ``qdrant-client`` against a server or cluster (``RAG_QDRANT_URL``). With the URL
  ``:memory:`` it runs qdrant-client's local mode, which CI uses to exercise this adapter.

The backend in ``rag.stores.qdrant`` speaks only this interface, so both run the same code.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rag.errors import ConfigError, StoreUnavailableError

INSTALL_HINT = "install the Qdrant extra: pip install 'rag[qdrant]'"
# The embedded engine has no group-by: a grouped search reads this many hits per group asked for.
GROUP_OVERFETCH = 16
UPSERT_BATCH = 256
MEMORY = ":memory:"  # qdrant-client's local mode: one store per process, shared by every engine in it
# An embedded shard needs a vector: collections without one (documents, meta) get this placeholder.
PLACEHOLDER = "placeholder"


@dataclass(frozen=True)
class Sparse:
    indices: list[int]
    values: list[float]


Vector = list[float] | Sparse


@dataclass(frozen=True)
class Point:
    id: int
    vectors: dict[str, Vector]
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    id: int
    payload: dict[str, Any]
    vectors: dict[str, list[float]]


@dataclass(frozen=True)
class Collection:
    dense: Mapping[str, int] = field(default_factory=dict)  # vector name -> dimension (dot product)
    sparse: Sequence[str] = ()  # sparse vector names, with the engine applying IDF


class Engine(Protocol):
    def create(self, name: str, spec: Collection) -> None: ...

    def upsert(self, name: str, points: Sequence[Point]) -> None: ...

    def seal(self, name: str) -> None:
        """The collection is complete: persist it and build its search indexes before it is served."""
        ...

    def search(self, name: str, using: str, vector: Vector, limit: int) -> list[tuple[int, float]]: ...

    def search_groups(
        self, name: str, using: str, vector: Vector, group_by: str, limit: int
    ) -> list[tuple[int, float]]:
        """(group value, best score) of the best ``limit`` groups, best first."""
        ...

    def retrieve(self, name: str, ids: Sequence[int], vectors: Sequence[str] = ()) -> list[Record]: ...

    def drop(self, name: str) -> None: ...

    def collections(self) -> list[str]: ...

    def aliases(self) -> dict[str, str]: ...

    def switch_aliases(self, aliases: Mapping[str, str]) -> None:
        """Point every alias at its collection in one atomic step."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailableError when the engine cannot be reached."""
        ...


class EdgeEngine:
    def __init__(self, root: Path, hnsw_ef: int | None = None, hnsw: tuple[int, int] | None = None) -> None:
        """``hnsw``: (m, ef_construct) for new collections; the engine's defaults (16, 100) otherwise."""
        self._q = _optional("qdrant_edge", "RAG_STORE=qdrant needs qdrant-edge-py")
        self.root = root
        self.hnsw_ef = hnsw_ef
        self.hnsw = hnsw
        self._shards: dict[str, Any] = {}

    def _path(self, name: str) -> Path:
        return self.root / "collections" / name

    def _shard(self, name: str) -> Any:
        if name not in self._shards:
            path = self._path(name)
            if not path.is_dir():
                raise StoreUnavailableError(f"collection {name} is missing from {self.root}")
            self._shards[name] = self._q.EdgeShard.load(str(path))
        return self._shards[name]

    def create(self, name: str, spec: Collection) -> None:
        q = self._q
        dense = dict(spec.dense) if spec.dense or spec.sparse else {PLACEHOLDER: 1}
        config = q.EdgeConfig(
            vectors={k: q.EdgeVectorParams(size=d, distance=q.Distance.Dot) for k, d in dense.items()},
            sparse_vectors={k: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf) for k in spec.sparse},
            # Written once, sealed, then only read: no write-ahead log, whose lock would keep a second
            # process (a server while `rag index` runs) from opening the collection.
            wal_enabled=False,
            hnsw_config=q.HnswIndexConfig(m=self.hnsw[0], ef_construct=self.hnsw[1], full_scan_threshold=10_000)
            if self.hnsw
            else None,
        )
        self._path(name).parent.mkdir(parents=True, exist_ok=True)
        self._shards[name] = q.EdgeShard.create(str(self._path(name)), config)

    def upsert(self, name: str, points: Sequence[Point]) -> None:
        shard = self._shard(name)
        for start in range(0, len(points), UPSERT_BATCH):
            batch = [self._point(p) for p in points[start : start + UPSERT_BATCH]]
            shard.update(self._q.UpdateOperation.upsert_points(batch))

    def seal(self, name: str) -> None:
        shard = self._shard(name)
        shard.optimize()  # builds the HNSW graph once the collection is large enough to want one
        shard.flush()

    def _point(self, point: Point) -> Any:
        vectors = point.vectors or {PLACEHOLDER: [1.0]}
        return self._q.Point(point.id, {k: self._vector(v) for k, v in vectors.items()}, point.payload)

    def _vector(self, vector: Vector) -> Any:
        if isinstance(vector, Sparse):
            return self._q.SparseVector(indices=vector.indices, values=vector.values)
        return vector

    def _query(self, name: str, using: str, vector: Vector, limit: int) -> list[Any]:
        q = self._q
        params = q.SearchParams(hnsw_ef=self.hnsw_ef) if self.hnsw_ef else None
        request = q.QueryRequest(
            limit=limit, query=q.Query.Nearest(self._vector(vector), using=using), with_payload=False, params=params
        )
        return list(self._shard(name).query(request))

    def search(self, name: str, using: str, vector: Vector, limit: int) -> list[tuple[int, float]]:
        return [(int(p.id), float(p.score)) for p in self._query(name, using, vector, limit)]

    def search_groups(
        self, name: str, using: str, vector: Vector, group_by: str, limit: int
    ) -> list[tuple[int, float]]:
        hits = self._query(name, using, vector, limit * GROUP_OVERFETCH)
        records = {r.id: r for r in self.retrieve(name, [int(p.id) for p in hits])}
        best: dict[int, float] = {}
        for p in hits:  # best first, so a group's first hit is its best
            best.setdefault(int(records[int(p.id)].payload[group_by]), float(p.score))
        return list(best.items())[:limit]

    def retrieve(self, name: str, ids: Sequence[int], vectors: Sequence[str] = ()) -> list[Record]:
        records = self._shard(name).retrieve(list(ids), with_payload=True, with_vector=list(vectors) or False)
        return [Record(int(r.id), dict(r.payload or {}), dict(r.vector or {})) for r in records]

    def drop(self, name: str) -> None:
        shard = self._shards.pop(name, None)
        if shard is not None:
            shard.close()
        shutil.rmtree(self._path(name), ignore_errors=True)

    def collections(self) -> list[str]:
        folder = self.root / "collections"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def aliases(self) -> dict[str, str]:
        path = self.root / "aliases.json"
        try:
            return dict(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return {}

    def switch_aliases(self, aliases: Mapping[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".aliases-{os.getpid()}.json"
        tmp.write_text(json.dumps({**self.aliases(), **aliases}), "utf-8")
        tmp.replace(self.root / "aliases.json")  # atomic: readers see the old aliases or the new ones

    def ping(self) -> None:
        return None  # in this process: reachable while the process runs


class ClientEngine:
    def __init__(self, url: str, api_key: str | None = None, hnsw_ef: int | None = None) -> None:
        client = _optional("qdrant_client", "RAG_QDRANT_URL needs qdrant-client")
        self._m = client.models
        QdrantClient = client.QdrantClient
        self.url = url
        self.hnsw_ef = None if url == MEMORY else hnsw_ef  # local mode searches exactly, and warns at any ef
        if url == MEMORY:
            self._client = _memory_client(QdrantClient)
        else:
            # No version check at construction: it runs in a thread whose failure would only be a warning.
            self._client = QdrantClient(url=url, api_key=api_key or None, timeout=30, check_compatibility=False)

    def create(self, name: str, spec: Collection) -> None:
        m = self._m
        self._client.create_collection(
            name,
            vectors_config={k: m.VectorParams(size=d, distance=m.Distance.DOT) for k, d in spec.dense.items()},
            sparse_vectors_config={k: m.SparseVectorParams(modifier=m.Modifier.IDF) for k in spec.sparse},
        )

    def upsert(self, name: str, points: Sequence[Point]) -> None:
        for start in range(0, len(points), UPSERT_BATCH):
            batch = [self._point(p) for p in points[start : start + UPSERT_BATCH]]
            self._call(self._client.upsert, name, batch, wait=True)

    def _point(self, point: Point) -> Any:
        vectors = {k: self._vector(v) for k, v in point.vectors.items()}
        return self._m.PointStruct(id=point.id, vector=vectors, payload=point.payload)

    def _vector(self, vector: Vector) -> Any:
        if isinstance(vector, Sparse):
            return self._m.SparseVector(indices=vector.indices, values=vector.values)
        return vector

    def seal(self, name: str) -> None:
        return None  # upserts waited for; a server builds its indexes in the background

    def _params(self) -> Any:
        return self._m.SearchParams(hnsw_ef=self.hnsw_ef) if self.hnsw_ef else None

    def search(self, name: str, using: str, vector: Vector, limit: int) -> list[tuple[int, float]]:
        response = self._call(
            self._client.query_points,
            name,
            query=self._vector(vector),
            using=using,
            limit=limit,
            with_payload=False,
            search_params=self._params(),
        )
        return [(int(p.id), float(p.score)) for p in response.points]

    def search_groups(
        self, name: str, using: str, vector: Vector, group_by: str, limit: int
    ) -> list[tuple[int, float]]:
        response = self._call(
            self._client.query_points_groups,
            name,
            query=self._vector(vector),
            using=using,
            group_by=group_by,
            limit=limit,
            group_size=1,
            with_payload=False,
            search_params=self._params(),
        )
        return [(int(g.id), float(g.hits[0].score)) for g in response.groups]

    def retrieve(self, name: str, ids: Sequence[int], vectors: Sequence[str] = ()) -> list[Record]:
        records = self._call(
            self._client.retrieve, name, list(ids), with_payload=True, with_vectors=list(vectors) or False
        )
        return [Record(int(r.id), dict(r.payload or {}), dict(r.vector or {})) for r in records]

    def drop(self, name: str) -> None:
        self._call(self._client.delete_collection, name)

    def collections(self) -> list[str]:
        return sorted(c.name for c in self._call(self._client.get_collections).collections)

    def aliases(self) -> dict[str, str]:
        return {a.alias_name: a.collection_name for a in self._call(self._client.get_aliases).aliases}

    def switch_aliases(self, aliases: Mapping[str, str]) -> None:
        m = self._m
        current = self.aliases()
        operations: list[Any] = [
            m.DeleteAliasOperation(delete_alias=m.DeleteAlias(alias_name=a)) for a in aliases if a in current
        ]
        operations += [
            m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=c, alias_name=a))
            for a, c in aliases.items()
        ]
        self._call(self._client.update_collection_aliases, operations)  # one request: applied atomically

    def ping(self) -> None:
        self._call(self._client.get_collections)

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:  # the client raises transport and HTTP errors of several libraries
            if type(exc).__name__ in {"UnexpectedResponse", "ResponseHandlingException"} or isinstance(exc, OSError):
                raise StoreUnavailableError(f"Qdrant at {self.url} failed: {exc}") from exc
            raise


def _optional(module: str, needed: str) -> Any:
    """An optional dependency, or a ConfigError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"{needed}: {INSTALL_HINT}") from exc


@functools.cache
def _memory_client(client_class: Any) -> Any:
    return client_class(location=MEMORY)
