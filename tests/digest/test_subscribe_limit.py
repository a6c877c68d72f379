"""The subscribe form mails whatever address it is given: one client gets SUBSCRIBE_RATE_LIMIT
forms per SUBSCRIBE_RATE_WINDOW, then a 429 page in its language, and no more mail."""

from django.urls import reverse

from digest.models import Subscriber


def subscribe(client, address: str, *, remote_addr: str, **headers):
    return client.post(reverse("digest:subscribe"), {"email": address, "lang": "en"}, REMOTE_ADDR=remote_addr, **headers)


def test_the_sixth_form_from_one_client_mails_nobody_and_another_client_still_can(client, smtp_server, settings, db):
    settings.SUBSCRIBE_RATE_LIMIT, settings.SUBSCRIBE_RATE_WINDOW = 5, 3600
    statuses = [subscribe(client, f"reader{i}@example.org", remote_addr="198.51.100.7").status_code for i in range(5)]
    assert statuses == [200] * 5 and len(smtp_server.received) == 5

    refused = subscribe(client, "victim@example.org", remote_addr="198.51.100.7")
    assert refused.status_code == 429 and refused["Retry-After"] == "3600"
    assert "Too many requests from your address" in refused.content.decode()
    assert len(smtp_server.received) == 5 and not Subscriber.objects.filter(email="victim@example.org").exists()

    assert subscribe(client, "neighbour@example.org", remote_addr="198.51.100.8").status_code == 200
    assert [r.rcpt for r in smtp_server.received][-1] == "neighbour@example.org"


def test_the_refusal_is_in_the_readers_language(client, smtp_server, settings, db):
    settings.SUBSCRIBE_RATE_LIMIT = 1
    subscribe(client, "a@example.org", remote_addr="198.51.100.9")
    ko = subscribe(client, "b@example.org", remote_addr="198.51.100.9", HTTP_ACCEPT_LANGUAGE="ko")
    zh = subscribe(client, "c@example.org", remote_addr="198.51.100.9", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert (ko.status_code, zh.status_code) == (429, 429)
    assert "요청이 너무 많습니다" in ko.content.decode() and "请求过多" in zh.content.decode()


def test_showing_the_form_is_not_counted(client, settings, db):
    settings.SUBSCRIBE_RATE_LIMIT = 1
    assert {client.get(reverse("digest:subscribe"), REMOTE_ADDR="198.51.100.10").status_code for _ in range(3)} == {200}
