"""The vector list over a kept set of filtered papers, exactly: each web process reads the
set's vectors once (per generation of the knowledge base) and compares a query with all of
them in numpy, well under a millisecond for 20,000 rows, where PostgreSQL would read every
paper's rows by its id on each search (10 ms for 2,000 papers, 76 ms for 20,000; an HNSW walk
filtered to them, 800 ms: bench/search.py)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from papers import embeddings
from papers.models import Embedding
from papers.search.scope import Scope

MAX_SETS = 4  # sets held per process; 20,000 papers' vectors are about 30 MB


@dataclass(frozen=True)
class ScopeRows:
    """The current model's Embedding rows of a set of papers, as arrays."""

    paper_ids: np.ndarray
    kinds: np.ndarray
    langs: np.ndarray
    vectors: np.ndarray  # (rows, DIM), each row of unit length


_held: OrderedDict[tuple, ScopeRows] = OrderedDict()
_lock = threading.Lock()


def nearest_rows(vector: np.ndarray, scope: Scope, *, langs: list[str], per_lang: int) -> list[tuple[int, str, str, float]]:
    """The per_lang nearest (paper_id, kind, lang, cosine distance) rows of each language among
    the scope's papers: what the HNSW list's SQL returns, computed exactly."""
    rows = scope_rows(scope)
    query = np.asarray(vector, dtype=np.float32)
    distances = 1.0 - rows.vectors @ (query / (np.linalg.norm(query) or 1.0))
    found = []
    for code in langs:
        in_lang = np.flatnonzero(rows.langs == code)
        best = in_lang[np.argsort(distances[in_lang], kind="stable")[:per_lang]]
        found += [(int(rows.paper_ids[i]), str(rows.kinds[i]), code, float(distances[i])) for i in best]
    return found


def scope_rows(scope: Scope) -> ScopeRows:
    key = (scope.key, scope.generation, embeddings.model_name())
    with _lock:
        if scope.key is not None and key in _held:
            _held.move_to_end(key)
            return _held[key]
    found = list(Embedding.objects.filter(model=embeddings.model_name(), paper_id__in=scope.ids)
                 .order_by().values_list("paper_id", "kind", "lang", "vector"))
    vectors = np.array([row[3] for row in found], dtype=np.float32).reshape(len(found), embeddings.DIM)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = ScopeRows(
        paper_ids=np.array([row[0] for row in found], dtype=np.int64),
        kinds=np.array([row[1] for row in found], dtype=object),
        langs=np.array([row[2] for row in found], dtype=object),
        vectors=vectors / np.where(norms == 0, 1, norms),
    )
    if scope.key is not None:
        with _lock:
            _held[key] = rows
            while len(_held) > MAX_SETS:
                _held.popitem(last=False)
    return rows
