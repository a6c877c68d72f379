"""The whole path over HTTP: subscribe -> confirm -> receive the issue -> unsubscribe."""

import re
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from django.urls import reverse

from digest import signed_links
from digest.models import Delivery, Subscriber
from digest.subscriptions import CONFIRMATION_INTERVAL

from .conftest import links_in

pytestmark = pytest.mark.django_db


def _path(url: str) -> str:
    return urlsplit(url).path


def test_subscribe_confirm_receive_unsubscribe(client, smtp_server, published_issue, tags):
    response = client.post(reverse("digest:subscribe"), {"email": "Minji@Example.org", "lang": "ko", "tags": ["benchmark"]})
    assert response.status_code == 200
    assert "minji@example.org" in response.content.decode()
    subscriber = Subscriber.objects.get(email="minji@example.org")
    assert subscriber.status == Subscriber.Status.PENDING
    assert [t.slug for t in subscriber.tags.all()] == ["benchmark"]

    # Nothing but the confirmation mail reaches a pending address.
    call_command("send_issue", "2024-01-29")
    [confirmation] = smtp_server.to("minji@example.org")
    confirm_link = next(url for url in links_in(confirmation.text) if "/subscribe/confirm/" in url)

    page = client.get(_path(confirm_link))
    assert page.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PENDING  # a GET (a link scanner) confirms nothing
    assert client.post(_path(confirm_link)).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED

    call_command("send_issue", "2024-01-29")
    issue_mails = [r for r in smtp_server.to("minji@example.org") if r.message["List-Unsubscribe"]]
    assert len(issue_mails) == 1
    mail = issue_mails[0]
    assert "멀티모달 벤치마크" in mail.text  # Korean, as chosen
    assert "합성 지속 사전학습" not in mail.text  # tagged #synthetic-data only: filtered out
    assert Delivery.objects.get(subscriber=subscriber).status == Delivery.Status.SENT

    unsubscribe_link = re.fullmatch(r"<(https?://\S+)>", mail.message["List-Unsubscribe"].strip()).group(1)
    page = client.get(_path(unsubscribe_link))
    assert page.status_code == 200 and b'method="post"' in page.content
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.CONFIRMED  # GET never unsubscribes

    # What a mail client sends for RFC 8058 one-click: a POST with this body, no cookies.
    response = client.post(_path(unsubscribe_link), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED


def test_one_click_unsubscribe_needs_no_csrf_token(smtp_server, published_issue, ko_subscriber):
    strict = Client(enforce_csrf_checks=True)
    url = signed_links.unsubscribe_url(ko_subscriber)
    response = strict.post(_path(url), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    ko_subscriber.refresh_from_db()
    assert ko_subscriber.status == Subscriber.Status.UNSUBSCRIBED


def test_unsubscribed_address_gets_no_later_issue(client, smtp_server, published_issue, ko_subscriber, en_subscriber):
    client.post(_path(signed_links.unsubscribe_url(ko_subscriber)))
    call_command("send_issue", "2024-01-29")
    assert smtp_server.counts() == {"alice@example.org": 1}


def test_preferences_change_language_and_tags(client, smtp_server, published_issue, ko_subscriber, tags):
    url = _path(signed_links.preferences_url(ko_subscriber))
    page = client.get(url)
    assert page.status_code == 200 and re.search(r'value="ko"[^>]*checked', page.content.decode())
    response = client.post(url, {"lang": "en", "tags": ["synthetic-data"]})
    assert response.status_code == 200
    ko_subscriber.refresh_from_db()
    assert ko_subscriber.lang == "en"
    assert [t.slug for t in ko_subscriber.tags.all()] == ["synthetic-data"]

    call_command("send_issue", "2024-01-29")
    [mail] = smtp_server.to("minji@example.org")
    assert "Synthetic continued pretraining" in mail.text
    assert "A multimodal benchmark" not in mail.text


def test_subscribing_a_confirmed_address_changes_nothing_and_mails_its_owner(client, smtp_server, ko_subscriber, tags):
    response = client.post(reverse("digest:subscribe"), {"email": "minji@example.org", "lang": "en", "tags": ["benchmark"]})
    assert response.status_code == 200
    ko_subscriber.refresh_from_db()
    assert (ko_subscriber.status, ko_subscriber.lang, ko_subscriber.tags.count()) == ("confirmed", "ko", 0)
    [mail] = smtp_server.to("minji@example.org")
    assert any("/subscribe/preferences/" in url for url in links_in(mail.text))
    assert not any("/subscribe/confirm/" in url for url in links_in(mail.text))


def test_subscribe_page_says_so_when_the_mail_server_is_down(client, settings, db):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 5  # nothing listens
    response = client.post(reverse("digest:subscribe"), {"email": "bob@example.org", "lang": "en"})
    assert response.status_code == 503
    assert "could not send the confirmation mail" in response.content.decode()
    assert Subscriber.objects.get(email="bob@example.org").confirmation_sent_at is None  # a retry will mail


def test_repeated_subscribe_requests_send_one_confirmation(client, smtp_server, db):
    for _ in range(3):
        response = client.post(reverse("digest:subscribe"), {"email": "bob@example.org", "lang": "en"})
        assert response.status_code == 200 and "Check your inbox" in response.content.decode()
    assert smtp_server.counts() == {"bob@example.org": 1}


def test_a_confirmation_can_be_asked_for_again_after_a_while(client, smtp_server, db):
    client.post(reverse("digest:subscribe"), {"email": "bob@example.org", "lang": "en"})
    Subscriber.objects.update(confirmation_sent_at=F("confirmation_sent_at") - CONFIRMATION_INTERVAL)
    client.post(reverse("digest:subscribe"), {"email": "bob@example.org", "lang": "en"})
    assert smtp_server.counts() == {"bob@example.org": 2}
