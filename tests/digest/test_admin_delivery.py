"""The editors' side: publish and send, progress, a test copy, retrying failures."""

import functools

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from digest import sending, tasks
from digest.issues import build_issue
from digest.models import Delivery
from papers.models import Issue

from .conftest import WEEK

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:papers_issue_changelist")


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


def sends(callbacks) -> list:
    """The on-commit callbacks that queue digest.tasks.send_issue (others forget cached pages)."""
    return [c for c in callbacks if isinstance(c, functools.partial) and c.func == tasks.send_issue.delay]


def test_publish_action_publishes_and_sends_after_commit(editor_client, week_papers, ko_subscriber, smtp_server,
                                                         django_capture_on_commit_callbacks):
    draft = build_issue(week=WEEK)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = editor_client.post(CHANGELIST, {"action": "publish_and_send", ACTION_CHECKBOX_NAME: [draft.pk]}, follow=True)
    assert response.status_code == 200
    assert "1 issue published; sending has started" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == "published" and draft.frozen_content
    assert len(sends(callbacks)) == 1  # the send task is queued only once the publish is committed
    tasks.send_issue(draft.pk)  # what the worker runs
    assert smtp_server.counts() == {ko_subscriber.email: 1}


def test_changelist_shows_delivery_progress(editor_client, published_issue, ko_subscriber, zh_subscriber, smtp_server):
    smtp_server.refuse[zh_subscriber.email] = "550 5.1.1 no such user"
    sending.send_issue(published_issue)
    page = editor_client.get(CHANGELIST).content.decode()
    assert "1 / 2 sent" in page
    assert "failed 1" in page
    assert f"?issue__id__exact={published_issue.pk}" in page


def test_send_test_copy_asks_for_an_address_then_sends_one_copy(editor_client, published_issue, ko_subscriber, smtp_server):
    form = editor_client.post(CHANGELIST, {"action": "send_test_copy", ACTION_CHECKBOX_NAME: [published_issue.pk]})
    assert form.status_code == 200 and 'name="email"' in form.content.decode()
    assert smtp_server.received == []

    response = editor_client.post(CHANGELIST, {"action": "send_test_copy", ACTION_CHECKBOX_NAME: [published_issue.pk],
                                               "send": "1", "email": "proof@example.org", "lang": "ko"}, follow=True)
    assert "Test copy of 2024-01-29 – 2024-02-04 sent to proof@example.org." in response.content.decode()
    [copy] = smtp_server.to("proof@example.org")
    assert copy.message["Subject"].strip().startswith("[TEST] ")  # (a long encoded subject is folded)
    assert "합성 지속 사전학습" in copy.text and "테스트 메일: 구독자에게는 발송되지 않았습니다." in copy.text
    assert copy.message["List-Unsubscribe"] is None
    assert not Delivery.objects.exists()  # subscribers are untouched


def test_test_copy_works_for_a_draft(editor_client, week_papers, smtp_server):
    draft = build_issue(week=WEEK)
    editor_client.post(CHANGELIST, {"action": "send_test_copy", ACTION_CHECKBOX_NAME: [draft.pk],
                                    "send": "1", "email": "proof@example.org", "lang": "en"})
    assert len(smtp_server.to("proof@example.org")) == 1
    assert Issue.objects.get(pk=draft.pk).status == "draft"


def test_retry_failed_deliveries_action_requeues_them(editor_client, published_issue, ko_subscriber, smtp_server, settings,
                                                      django_capture_on_commit_callbacks):
    settings.DIGEST_MAX_ATTEMPTS = 1
    smtp_server.refuse_once[ko_subscriber.email] = "451 4.3.0 try later"
    sending.send_issue(published_issue)
    row = Delivery.objects.get()
    assert row.status == "failed"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        editor_client.post(reverse("admin:digest_delivery_changelist"), {"action": "retry_failed", ACTION_CHECKBOX_NAME: [row.pk]})
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("queued", 0)
    assert len(sends(callbacks)) == 1
    tasks.send_issue(published_issue.pk)
    assert smtp_server.counts() == {ko_subscriber.email: 1}


def test_publish_only_sends_nothing_until_the_weekly_beat(editor_client, week_papers, ko_subscriber, smtp_server,
                                                          django_capture_on_commit_callbacks):
    draft = build_issue(week=WEEK)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        editor_client.post(CHANGELIST, {"action": "publish_only", ACTION_CHECKBOX_NAME: [draft.pk]})
    assert Issue.objects.get(pk=draft.pk).status == "published"
    assert sends(callbacks) == [] and smtp_server.received == []
    assert sending.issues_never_sent() == [draft.pk]  # what the Monday beat task sends
    page = editor_client.get(reverse("admin:papers_issue_change", args=[draft.pk]))
    assert page.status_code == 200
