"""The digest's world: a real SMTP server (aiosmtpd) that captures messages and can answer
4xx/5xx, drop the connection or stall on demand; a small issue; named subscribers."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import re
import socket
import threading
import uuid
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller

from tests.factories import make_paper
from tests.polling import wait_until


@dataclass
class Received:
    rcpt: str
    message: email.message.EmailMessage
    raw: bytes  # as it came over the wire

    @property
    def text(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(preferencelist=("html",)).get_content()


async def _until(event: threading.Event) -> None:
    """Wait for a test's event without holding up the server's other connections."""
    await asyncio.get_running_loop().run_in_executor(None, event.wait)


@dataclass
class SmtpSink:
    """What the aiosmtpd handler does, steered by the test.

    refuse: address -> reply to RCPT (e.g. "550 5.1.1 no such user"), every time.
    refuse_once: address -> reply to RCPT, the first time only.
    drop_after: once this many messages are in, drop the connection at every further RCPT.
    hold_after: once this many messages are in, stall the next RCPT until `release` is set.
    hold_accept: take the next message in, then hold its 250 reply until `accept` is set
      (`accepting` says when a message waits there).
    go_down()/come_back(): the server stops listening (connections refused) and starts again.
    """

    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    refuse_once: dict[str, str] = field(default_factory=dict)
    drop_after: int | None = None
    hold_after: int | None = None
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    hold_accept: bool = False
    accepting: threading.Event = field(default_factory=threading.Event)
    accept: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        address = address.lower()
        with self.lock:
            count = len(self.received)
        if self.drop_after is not None and count >= self.drop_after:
            server.transport.close()  # the client sees the connection vanish mid-transaction
            return "421 4.3.0 going away"
        if self.hold_after is not None and count >= self.hold_after and not self.release.is_set():
            self.holding.set()
            await _until(self.release)
            return "451 4.3.0 held"
        if address in self.refuse:
            return self.refuse[address]
        if address in self.refuse_once:
            return self.refuse_once.pop(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append(Received(rcpt=rcpt, message=message, raw=envelope.original_content))
        if self.hold_accept:
            self.hold_accept = False
            self.accepting.set()
            await _until(self.accept)
        return "250 2.0.0 accepted"

    # --- for the tests ---

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.rcpt == address.lower()]

    def counts(self) -> dict[str, int]:
        with self.lock:
            out: dict[str, int] = {}
            for r in self.received:
                out[r.rcpt] = out.get(r.rcpt, 0) + 1
            return out

    def wait_for(self, predicate, timeout: float = 30.0) -> None:
        wait_until(predicate, timeout=timeout, interval=0.02, describe=lambda: f"condition not met; received {self.counts()}")

    def heal(self) -> None:
        self.drop_after = self.hold_after = None
        self.release.set()
        self.accept.set()

    def start(self) -> None:
        self.controller = Controller(self, hostname=self.host, port=self.port)
        self.controller.start()

    def go_down(self) -> None:
        self.controller.stop()

    def come_back(self) -> None:
        self.start()


@pytest.fixture(autouse=True)
def private_rate_limits(settings):
    """Cache keys of this test's own: the subscribe form's per-client budget (all test clients
    are 127.0.0.1) never carries over from another test or an earlier run."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"digest-test-{uuid.uuid4().hex}"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on 127.0.0.1 that Django's SMTP backend talks to."""
    sink = SmtpSink(port=_free_port())
    sink.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = sink.host, sink.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 20
    try:
        yield sink
    finally:
        sink.heal()
        try:
            sink.controller.stop()
        except (AssertionError, RuntimeError):
            pass  # the test left it down


@pytest.fixture
def smtp_env(smtp_server, monkeypatch):
    """The same server for processes the test starts (a Celery worker reads EMAIL_URL)."""
    monkeypatch.setenv("EMAIL_URL", f"smtp://{smtp_server.host}:{smtp_server.port}")
    return smtp_server


def links_in(text: str) -> list[str]:
    return re.findall(r"https?://\S+", text)


# --- Content ---------------------------------------------------------------------------

WEEK = dt.date(2024, 1, 29)


@pytest.fixture
def tags(db):
    from papers.models import Tag

    return {slug: Tag.objects.create(slug=slug, name=slug) for slug in ("synthetic-data", "benchmark", "multimodal")}


@pytest.fixture
def week_papers(tags):
    """Three papers of the week of 2024-01-29: two with Korean texts, one English only."""
    return [
        make_paper(
            title="Synthetic continued pretraining", published=WEEK, tags=[tags["synthetic-data"]], arxiv_id="2409.07431",
            texts={
                "en": {"title": "Synthetic continued pretraining", "summary": "EntiGraph turns a small corpus into a large synthetic one."},
                "ko": {"title": "합성 지속 사전학습", "summary": "EntiGraph는 작은 말뭉치를 큰 합성 말뭉치로 바꾼다."},
            },
        ),
        make_paper(
            title="A multimodal benchmark", published=WEEK + dt.timedelta(days=2), tags=[tags["benchmark"], tags["multimodal"]],
            texts={
                "en": {"title": "A multimodal benchmark", "summary": "Images and text, scored together."},
                "ko": {"title": "멀티모달 벤치마크", "summary": "이미지와 텍스트를 함께 평가한다."},
            },
        ),
        make_paper(
            title="Only in English", published=WEEK + dt.timedelta(days=6), tags=[tags["benchmark"]],
            texts={"en": {"title": "Only in English", "summary": "No translation of this one yet."}},
        ),
    ]


@pytest.fixture
def published_issue(week_papers):
    from digest.issues import build_issue, publish_issue
    from papers.models import IssueEditorial

    issue = build_issue(week=WEEK)
    IssueEditorial.objects.create(issue=issue, lang="ko", body="이번 주는 합성 데이터의 한 주였다.")
    IssueEditorial.objects.create(issue=issue, lang="en", body="A week of synthetic data.")
    return publish_issue(issue)


# --- People ----------------------------------------------------------------------------


def make_subscriber(email_address: str, *, lang: str = "en", tags=(), status: str = "confirmed"):
    from digest.models import Subscriber

    subscriber = Subscriber.objects.create(email=email_address, lang=lang, status=status)
    subscriber.tags.set(tags)
    return subscriber


@pytest.fixture
def ko_subscriber(db):
    return make_subscriber("minji@example.org", lang="ko")


@pytest.fixture
def zh_subscriber(db):
    return make_subscriber("wei@example.org", lang="zh")


@pytest.fixture
def en_subscriber(db):
    return make_subscriber("alice@example.org", lang="en")
