"""Who a request counts against: the peer, or behind a TRUSTED_PROXIES proxy the right-most
X-Forwarded-For hop that is not one of ours; an IPv6 client per /64, an IPv4 client per address."""

import uuid

import pytest
from django.test import RequestFactory

from papers.views.ratelimit import client_address

API = "/api/search"
PROXY = "10.9.0.1"


@pytest.fixture(autouse=True)
def fresh_counters(settings):
    """Counters of this test's own: the addresses below are fixed, the windows an hour long."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"client-address-{uuid.uuid4().hex}"}}
    settings.SEARCH_RATE_LIMIT, settings.SEARCH_RATE_WINDOW = 1, 3600


def address(remote_addr: str, forwarded_for: str | None = None) -> str:
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote_addr, **headers))


def search(client, remote_addr: str, forwarded_for: str | None = None) -> int:
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for is not None else {}
    return client.get(API, {"q": "rag"}, REMOTE_ADDR=remote_addr, **headers).status_code


class TestBuckets:
    def test_two_clients_behind_one_trusted_proxy_get_a_bucket_each(self, search_corpus, client, settings):
        settings.TRUSTED_PROXIES = ["10.9.0.0/16"]
        assert search(client, PROXY, "203.0.113.5") == 200
        assert search(client, PROXY, "203.0.113.5") == 429
        assert search(client, PROXY, "203.0.113.6") == 200

    def test_a_forwarded_for_from_an_untrusted_peer_is_ignored(self, search_corpus, client, settings):
        settings.TRUSTED_PROXIES = ["10.9.0.0/16"]
        assert search(client, "198.51.100.20", "203.0.113.7") == 200
        assert search(client, "198.51.100.20", "203.0.113.8") == 429  # a new made-up address, the same bucket

    def test_with_no_trusted_proxies_forwarded_for_is_ignored(self, search_corpus, client, settings):
        assert settings.TRUSTED_PROXIES == []  # the default
        assert search(client, PROXY, "203.0.113.9") == 200
        assert search(client, PROXY, "203.0.113.10") == 429

    def test_two_addresses_in_one_ipv6_64_share_a_bucket(self, search_corpus, client):
        assert search(client, "2001:db8:1:2::1") == 200
        assert search(client, "2001:db8:1:2:ffff:eeee:dddd:9") == 429
        assert search(client, "2001:db8:1:3::1") == 200  # the next /64

    def test_ipv4_clients_are_counted_per_address(self, search_corpus, client):
        assert search(client, "192.0.2.1") == 200
        assert search(client, "192.0.2.2") == 200


class TestClientAddress:
    def test_the_right_most_untrusted_hop_is_the_client(self, settings):
        settings.TRUSTED_PROXIES = ["10.9.0.0/16", "2001:db8:ff::/48"]
        # The client wrote 6.6.6.6 itself; our outer proxy saw 203.0.113.5, the inner one the outer.
        assert address(PROXY, "6.6.6.6, 203.0.113.5, 10.9.0.7") == "203.0.113.5"
        assert address("2001:db8:ff::1", "2001:db8:1:2::1") == "2001:db8:1:2::1"

    def test_a_chain_of_trusted_proxies_alone_is_counted_as_its_first(self, settings):
        settings.TRUSTED_PROXIES = ["10.9.0.0/16"]
        assert address(PROXY, "10.9.0.8, 10.9.0.7") == "10.9.0.8"

    def test_a_hop_that_is_no_address_stops_the_walk(self, settings):
        settings.TRUSTED_PROXIES = ["10.9.0.0/16"]
        assert address(PROXY, "203.0.113.5, not-an-ip, 10.9.0.7") == "10.9.0.7"
        assert address(PROXY, "") == PROXY

    def test_an_ipv4_mapped_peer_is_its_ipv4_address(self):
        assert address("::ffff:192.0.2.1") == "192.0.2.1"

    def test_a_peer_with_no_address_shares_one_bucket(self):
        assert address("") == "0.0.0.0"
