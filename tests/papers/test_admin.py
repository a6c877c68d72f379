"""The Django admin: every model of the knowledge base and the digest is there for editors,
behind a login; pipeline records are read-only."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from papers.models import Answer, Commentary, Embedding, EnrichmentStep, Issue, LLMCall, Paper, Passage, PaperVersion

pytestmark = pytest.mark.django_db

APPS = ["papers", "digest", "synth"]
EDITORS_APPS = ["papers", "digest"]  # the lab is the lab operator's (tests/synth/test_permissions.py)


def _models(app_labels=APPS):
    return [m for app in app_labels for m in apps.get_app_config(app).get_models() if not m._meta.auto_created]


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


@pytest.fixture
def olmo_with_pipeline_rows(imported_seeds):
    """OLMo from the seed corpus, plus one row of each pipeline model the import does not write."""
    paper = Paper.objects.get(arxiv_id="2402.00838")
    PaperVersion.objects.create(paper=paper, version=1, updated=dt.date(2024, 2, 1), title=paper.title)
    EnrichmentStep.objects.create(paper=paper, step="summarize", lang="zh", status=EnrichmentStep.Status.FAILED, error="429")
    LLMCall.objects.create(task_kind="summarize", model="qwen2.5-7b", prompt_hash="ab" * 32, prompt_tokens=900,
                           completion_tokens=120, latency_ms=850, cost_usd="0.000420", response="...")
    text = paper.texts.get(lang="en", kind="title")
    Embedding.objects.create(paper=paper, text=text, lang="en", kind="title", model="e5-small", dim=384,
                             content_hash="cd" * 32, vector=[1.0] + [0.0] * 383)
    abstract = paper.texts.get(lang="en", kind="abstract")
    Passage.objects.create(paper=paper, text=abstract, lang="en", kind="abstract", position=0, body=abstract.body[:200],
                           source_hash="ef" * 32)
    Answer.objects.create(uid=uuid.uuid4(), question="What is OLMo?", question_hash="01" * 32, lang="en",
                          mode=Answer.Mode.EXTRACTIVE, status=Answer.Status.COMPLETE)
    return paper


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


def test_every_model_has_an_admin():
    missing = [m.__name__ for m in _models() if not admin.site.is_registered(m)]
    assert missing == []


@pytest.mark.parametrize("url", ["/admin/", "/admin/papers/paper/", "/admin/papers/issue/"])
def test_anonymous_is_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_every_changelist_loads_for_an_editor(editor_client, olmo_with_pipeline_rows):
    with_rows = []
    for model in _models(EDITORS_APPS):
        response = editor_client.get(_changelist(model))
        assert response.status_code == 200, model.__name__
        if model.objects.exists():
            assert 'id="result_list"' in response.content.decode(), model.__name__
            with_rows.append(model._meta.label)
    # The seed corpus plus the fixture's rows fill every knowledge-base and issue model.
    assert {f"papers.{m.__name__}" for m in _models(["papers"])} <= set(with_rows)
    assert {"papers.Issue", "papers.IssueEditorial", "papers.IssueEntry"} <= set(with_rows)


def test_changelist_search_finds_a_paper_by_its_korean_text(editor_client, olmo_with_pipeline_rows):
    html = editor_client.get(_changelist(Paper), {"q": "언어 모델 과학"}).content.decode()
    assert "OLMo: Accelerating the Science of Language Models" in html
    assert "SliceGPT" not in html


def test_change_pages_show_their_inlines(editor_client, olmo_with_pipeline_rows):
    html = editor_client.get(reverse("admin:papers_paper_change", args=[olmo_with_pipeline_rows.pk])).content.decode()
    assert "OLMo: 언어 모델 과학의 가속화" in html  # a text inline
    assert "https://arxiv.org/abs/2402.00838" in html  # a link inline
    issue = Issue.objects.get(week_start=dt.date(2024, 1, 29))
    html = editor_client.get(reverse("admin:papers_issue_change", args=[issue.pk])).content.decode()
    assert "DAIR.AI" in html and "entries-TOTAL_FORMS" in html
    commentary = Commentary.objects.get(author="53AI")
    assert editor_client.get(reverse("admin:papers_commentary_change", args=[commentary.pk])).status_code == 200


def test_llm_calls_can_be_viewed_but_not_added_or_changed(editor_client, olmo_with_pipeline_rows):
    call = LLMCall.objects.get()
    change_url = reverse("admin:papers_llmcall_change", args=[call.pk])
    html = editor_client.get(change_url).content.decode()
    assert "qwen2.5-7b" in html and 'name="_save"' not in html
    assert editor_client.get(reverse("admin:papers_llmcall_add")).status_code == 403
    assert editor_client.post(change_url, {"model": "changed"}).status_code == 403
    assert LLMCall.objects.get().model == "qwen2.5-7b"


def test_the_lab_is_not_the_editors(editor_client):
    for model in _models(["synth"]):
        assert editor_client.get(_changelist(model)).status_code == 403, model.__name__


def test_editing_a_machine_text_makes_it_the_editors_and_enrichment_keeps_it(editor_client, olmo_with_pipeline_rows):
    from papers.ingest.upsert import upsert_text
    from papers.models import Origin, PaperText

    text = PaperText.objects.create(paper=olmo_with_pipeline_rows, lang="zh", kind="summary", body="机器写的摘要。",
                                    origin=Origin.MACHINE, model="qwen2.5-7b")
    url = reverse("admin:papers_papertext_change", args=[text.pk])
    response = editor_client.post(url, {"paper": text.paper_id, "lang": "zh", "kind": "summary", "body": "编辑改写的摘要。",
                                        "origin": Origin.MACHINE, "model": "qwen2.5-7b", "source": ""})
    assert response.status_code == 302
    text.refresh_from_db()
    assert (text.body, text.origin, text.model) == ("编辑改写的摘要。", Origin.EDITOR, "")
    # The next enrichment and a changed seed file both leave the editor's words alone.
    assert not upsert_text(text.paper, lang="zh", kind="summary", body="新的机器摘要。", origin=Origin.MACHINE, model="m")
    assert not upsert_text(text.paper, lang="zh", kind="summary", body="来源文件的新摘要。", origin=Origin.SOURCE)
    text.refresh_from_db()
    assert text.body == "编辑改写的摘要。"


def test_only_staff_with_the_enrichment_permission_can_spend_the_llm_budget(client, editor, olmo_with_pipeline_rows):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.contrib.auth.models import Permission

    from tests.factories import staff_member

    def rerun(user) -> set[str]:
        client.force_login(user)
        page = client.get(_changelist(Paper)).content.decode()
        client.post(_changelist(Paper), {"action": "rerun_enrichment", ACTION_CHECKBOX_NAME: [olmo_with_pipeline_rows.pk]})
        offered = 'value="rerun_enrichment"' in page
        pending = EnrichmentStep.objects.filter(paper=olmo_with_pipeline_rows, status=EnrichmentStep.Status.PENDING).exists()
        return {name for name, seen in (("offered", offered), ("pending", pending)) if seen}

    viewer = staff_member("viewer")
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_paper", "change_paper"]))
    assert rerun(viewer) == set()  # neither offered nor done when posted by hand
    assert rerun(editor) == {"offered", "pending"}


def test_an_editors_edit_re_embeds_the_paper_and_cuts_its_passages_again(editor_client, olmo_with_pipeline_rows,
                                                                        django_capture_on_commit_callbacks):
    from papers.models import PaperText
    from papers.tasks import embed_paper

    text = olmo_with_pipeline_rows.texts.get(lang="en", kind="abstract")
    url = reverse("admin:papers_papertext_change", args=[text.pk])
    with django_capture_on_commit_callbacks() as queued:
        response = editor_client.post(url, {"paper": text.paper_id, "lang": "en", "kind": "abstract",
                                            "body": "OLMo is an open language model. Its data is open too.",
                                            "origin": "source", "model": "", "source": ""})
    assert response.status_code == 302
    assert [c.__qualname__ for c in queued].count("enqueue_embedding.<locals>.<lambda>") == 1  # for the worker
    embed_paper.apply(args=[text.paper_id]).get()  # what the worker then runs
    assert list(PaperText.objects.get(pk=text.pk).passages.values_list("body", flat=True)) == [
        "OLMo is an open language model. Its data is open too."]
