"""Bad input on the subscription pages gets a clear message, and changes nothing."""

import time
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.urls import reverse

from digest import signed_links
from digest.models import Subscriber

pytestmark = pytest.mark.django_db


def _old_token(subscriber, *, salt: str, age_days: int) -> str:
    class PastSigner(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - age_days * 86400)

    return PastSigner(salt=salt).sign_object({"id": subscriber.pk, "email": subscriber.email}, compress=True)


def test_invalid_address_is_refused_with_a_message(client, smtp_server):
    response = client.post(reverse("digest:subscribe"), {"email": "not-an-address", "lang": "en"})
    assert response.status_code == 400
    assert "Enter a valid email address, e.g. name@example.org." in response.content.decode()
    assert not Subscriber.objects.exists()
    assert smtp_server.received == []


def test_missing_address_is_refused_with_a_message(client, smtp_server):
    response = client.post(reverse("digest:subscribe"), {"email": "", "lang": "en"})
    assert response.status_code == 400
    assert "Enter your email address." in response.content.decode()


def test_unknown_language_is_refused_with_a_message(client, smtp_server):
    response = client.post(reverse("digest:subscribe"), {"email": "bob@example.org", "lang": "fr"})
    assert response.status_code == 400
    assert "Unknown language “fr”: choose Korean, Chinese or English." in response.content.decode()
    assert not Subscriber.objects.exists()


def test_unknown_tag_is_refused_with_a_message(client, smtp_server, tags):
    response = client.post(reverse("digest:subscribe"), {"email": "bob@example.org", "lang": "en", "tags": ["no-such-tag"]})
    assert response.status_code == 400
    assert "Unknown tag “no-such-tag”." in response.content.decode()


def test_error_text_is_escaped(client, smtp_server):
    response = client.post(reverse("digest:subscribe"), {"email": "bob@example.org", "lang": "<b>x</b>"})
    assert response.status_code == 400
    assert "<b>x</b>" not in response.content.decode()
    assert "&lt;b&gt;x&lt;/b&gt;" in response.content.decode()


@pytest.mark.parametrize("name", ["confirm", "preferences", "unsubscribe"])
def test_forged_token_gets_a_clear_page(client, ko_subscriber, name):
    real = urlsplit(getattr(signed_links, f"{name}_url")(ko_subscriber)).path
    forged = real.replace(real.split("/")[-2][-6:], "AAAAAA")
    for method in (client.get, client.post):
        response = method(forged)
        assert response.status_code == 400
        assert "This link is damaged or was not made by us." in response.content.decode()
    ko_subscriber.refresh_from_db()
    assert ko_subscriber.status == Subscriber.Status.CONFIRMED


def test_a_token_for_one_purpose_does_not_work_for_another(client, ko_subscriber):
    preferences_token = urlsplit(signed_links.preferences_url(ko_subscriber)).path.split("/")[-2]
    response = client.post(reverse("digest:unsubscribe", kwargs={"token": preferences_token}))
    assert response.status_code == 400
    ko_subscriber.refresh_from_db()
    assert ko_subscriber.status == Subscriber.Status.CONFIRMED


def test_expired_confirmation_link_gets_a_clear_page(client, db):
    pending = Subscriber.objects.create(email="late@example.org", lang="en")
    token = _old_token(pending, salt=signed_links.CONFIRM_SALT, age_days=8)
    response = client.post(reverse("digest:confirm", kwargs={"token": token}))
    assert response.status_code == 400
    assert "This link has expired." in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == Subscriber.Status.PENDING


def test_recent_confirmation_link_still_works(client, db):
    pending = Subscriber.objects.create(email="soon@example.org", lang="en")
    token = _old_token(pending, salt=signed_links.CONFIRM_SALT, age_days=6)
    assert client.post(reverse("digest:confirm", kwargs={"token": token})).status_code == 200
    pending.refresh_from_db()
    assert pending.status == Subscriber.Status.CONFIRMED


def test_unsubscribe_link_from_an_old_issue_still_works(client, ko_subscriber):
    token = _old_token(ko_subscriber, salt=signed_links.UNSUBSCRIBE_SALT, age_days=300)
    assert client.post(reverse("digest:unsubscribe", kwargs={"token": token})).status_code == 200
    ko_subscriber.refresh_from_db()
    assert ko_subscriber.status == Subscriber.Status.UNSUBSCRIBED


def test_link_for_a_deleted_subscriber_gets_a_clear_page(client, ko_subscriber):
    url = urlsplit(signed_links.unsubscribe_url(ko_subscriber)).path
    ko_subscriber.delete()
    response = client.get(url)
    assert response.status_code == 400


def test_unsubscribe_get_never_unsubscribes(client, ko_subscriber):
    url = urlsplit(signed_links.unsubscribe_url(ko_subscriber)).path
    for _ in range(3):  # a link scanner, a prefetcher, the person
        page = client.get(url)
        assert page.status_code == 200
        assert "Stop sending the weekly issue to minji@example.org?" in page.content.decode()
        assert '<form method="post">' in page.content.decode()
    ko_subscriber.refresh_from_db()
    assert ko_subscriber.status == Subscriber.Status.CONFIRMED


def test_bad_preferences_input_keeps_the_old_preferences(client, ko_subscriber):
    url = urlsplit(signed_links.preferences_url(ko_subscriber)).path
    response = client.post(url, {"lang": "xx"})
    assert response.status_code == 400
    assert "Unknown language “xx”" in response.content.decode()
    ko_subscriber.refresh_from_db()
    assert ko_subscriber.lang == "ko"
