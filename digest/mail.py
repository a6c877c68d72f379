"""The one module that renders and sends mail (the gateway to SMTP).

Everything mailed comes from templates/emails/; HTML gets its CSS inlined (css-inline)
because many mail clients drop <style>. Callers get one error type, MailError, that says
whether trying again can help.
"""

from __future__ import annotations

import os
import smtplib
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import css_inline
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from digest import signed_links
from digest.models import Subscriber
from papers.issues import LocalizedIssue, entries_for_tags, issue_content, localize
from papers.languages import Lang, ui_lang
from papers.models import Issue

# Links differ per subscriber; everything else is rendered once per (language, entries)
# and these stand-ins are replaced afterwards (see IssueMail). They survive HTML escaping.
_UNSUBSCRIBE = "https://unsubscribe.placeholder.invalid/"
_PREFERENCES = "https://preferences.placeholder.invalid/"


class MailError(Exception):
    """A message was not sent.

    permanent: sending it again will fail the same way (a 5xx reply).
    bad_address: the recipient's server refused the address itself (5xx to RCPT).
    connection_lost: the server went away or refused us as a sender; stop and retry later.
    """

    def __init__(self, message: str, *, permanent: bool = False, bad_address: bool = False, connection_lost: bool = False):
        super().__init__(message)
        self.permanent = permanent or bad_address
        self.bad_address = bad_address
        self.connection_lost = connection_lost


class EmlFileBackend(BaseEmailBackend):
    """The default with no SMTP configured: each message as an .eml file that any mail
    program opens (Django's file backend appends many messages to one .log file)."""

    def __init__(self, *, file_path: str | None = None, fail_silently: bool = False, **kwargs):
        super().__init__(fail_silently=fail_silently)
        self.path = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages) -> int:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for message in email_messages:
            name = f"{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:12]}.eml"
            tmp = self.path / f".{name}.tmp"
            # 0600: a message holds its subscriber's signed links (unsubscribe, preferences).
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(message.message().as_bytes(linesep="\n"))
            tmp.rename(self.path / name)  # never a half-written .eml for a reader to open
        return len(email_messages)


# --- Sending --------------------------------------------------------------------------


def open_connection():
    """A connection to the configured backend, kept open across many messages."""
    return get_connection(fail_silently=False)


def close_quietly(connection) -> None:
    try:
        connection.close()
    except (smtplib.SMTPException, OSError):
        pass  # the server already went away; the next open() starts afresh


def send(message: EmailMultiAlternatives, *, connection) -> None:
    """Send one message, raising MailError on failure."""
    try:
        # Opened here rather than by send_messages, which would close it again after each
        # message; after a lost connection this reconnects once for the next message.
        connection.open()
        sent = connection.send_messages([message])
    except smtplib.SMTPRecipientsRefused as e:
        code, reply = next(iter(e.recipients.values()))
        raise MailError(f"{code} {_text(reply)}", bad_address=code >= 500) from e
    except smtplib.SMTPSenderRefused as e:
        # Our From address or our account is refused: nothing to do with this recipient.
        close_quietly(connection)
        raise MailError(f"sender refused: {e.smtp_code} {_text(e.smtp_error)}", connection_lost=True) from e
    except smtplib.SMTPAuthenticationError as e:
        close_quietly(connection)
        raise MailError(f"SMTP login failed: {e.smtp_code} {_text(e.smtp_error)}", connection_lost=True) from e
    except smtplib.SMTPResponseException as e:  # a reply to DATA: 4xx try later, 5xx never
        if e.smtp_code == 421:  # the server is closing the connection
            close_quietly(connection)
            raise MailError(f"{e.smtp_code} {_text(e.smtp_error)}", connection_lost=True) from e
        raise MailError(f"{e.smtp_code} {_text(e.smtp_error)}", permanent=e.smtp_code >= 500) from e
    except (smtplib.SMTPException, OSError) as e:  # disconnected, timed out, connection refused
        close_quietly(connection)
        raise MailError(f"{type(e).__name__}: {e}", connection_lost=True) from e
    if not sent:
        raise MailError("the mail backend sent nothing")


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _render(base: str, context: dict, *, lang: str) -> tuple[str, str, str]:
    """Subject, plain text and HTML (CSS inlined) of templates/emails/<base>-*."""
    with translation.override(ui_lang(lang)):
        subject = " ".join(render_to_string(f"emails/{base}-subject.txt", context).split())
        text = render_to_string(f"emails/{base}-body.txt", context)
        html = render_to_string(f"emails/{base}-body.html", context)
    return subject, text, _inliner().inline(html)


def _inliner() -> css_inline.CSSInliner:
    # Never fetch remote stylesheets: the templates carry all their CSS.
    return css_inline.CSSInliner(load_remote_stylesheets=False)


def _message_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


# --- The weekly issue -----------------------------------------------------------------


@dataclass(frozen=True)
class _Parts:
    subject: str
    text: str
    html: str


class IssueMail:
    """Renders one issue for many subscribers: each (language, set of entries) once, then
    only the subscriber's own links change (bench/digest.py measures both)."""

    def __init__(self, issue: Issue):
        self.issue = issue
        self.content = issue_content(issue)
        self._parts: dict[tuple[str, tuple[int, ...], bool], _Parts] = {}

    def parts(self, *, lang: str, tags: frozenset[str] = frozenset(), test_copy: bool = False) -> _Parts | None:
        """Rendered subject and bodies, or None when nothing in the issue matches the tags."""
        entries = entries_for_tags(self.content, tags)
        if not entries:
            return None
        key = (lang, tuple(e["paper_id"] for e in entries), test_copy)
        if key not in self._parts:
            view = localize(self.content, lang=lang, tags=tags)
            self._parts[key] = _Parts(*_render("issue", _issue_context(view, test_copy=test_copy), lang=lang))
        return self._parts[key]

    def message_for(self, subscriber: Subscriber, *, tags: frozenset[str]) -> EmailMultiAlternatives | None:
        parts = self.parts(lang=subscriber.lang, tags=tags)
        if parts is None:
            return None
        unsubscribe = signed_links.unsubscribe_url(subscriber)
        preferences = signed_links.preferences_url(subscriber)
        headers = {
            # RFC 2369 + RFC 8058: mail clients show an "Unsubscribe" button and POST
            # "List-Unsubscribe=One-Click" to this URL (digest.views.subscriptions.unsubscribe).
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"paper-digest weekly <weekly.{_message_domain()}>",
            "Content-Language": subscriber.lang,
            # The same Message-ID for the same (issue, subscriber): if a crash ever made us
            # send one twice, mail systems that deduplicate on it show it once.
            "Message-ID": f"<issue-{self.issue.pk}.subscriber-{subscriber.pk}@{_message_domain()}>",
        }
        return _message(parts, to=subscriber.email, headers=headers, links={_UNSUBSCRIBE: unsubscribe, _PREFERENCES: preferences})

    def test_copy(self, *, email: str, lang: str) -> EmailMultiAlternatives:
        parts = self.parts(lang=lang, test_copy=True)
        if parts is None:
            raise MailError("the issue has no entries", permanent=True)
        subscribe = settings.SITE_URL + reverse("digest:subscribe")
        return _message(parts, to=email, headers={"Content-Language": lang}, links={_UNSUBSCRIBE: subscribe, _PREFERENCES: subscribe})


def _message(parts: _Parts, *, to: str, headers: dict, links: dict[str, str]) -> EmailMultiAlternatives:
    text, html = parts.text, parts.html
    for placeholder, url in links.items():
        text, html = text.replace(placeholder, url), html.replace(placeholder, url)
    message = EmailMultiAlternatives(parts.subject, text, settings.DEFAULT_FROM_EMAIL, [to], headers=headers)
    message.attach_alternative(html, "text/html")
    return message


def _issue_context(view: LocalizedIssue, *, test_copy: bool) -> dict:
    return {
        "issue": view,
        "lang_name": Lang(view.lang).label,
        "english_name": Lang.EN.label,
        "site_url": settings.SITE_URL,
        "unsubscribe_url": _UNSUBSCRIBE,
        "preferences_url": _PREFERENCES,
        "test_copy": test_copy,
    }


def send_test_copy(issue: Issue, *, email: str, lang: str) -> None:
    """One copy of the issue to one address (an editor's check before publishing)."""
    message = IssueMail(issue).test_copy(email=email, lang=lang)
    message.subject = f"[TEST] {message.subject}"
    connection = open_connection()
    try:
        send(message, connection=connection)
    finally:
        close_quietly(connection)


# --- Subscription mail ----------------------------------------------------------------


def send_confirmation(subscriber: Subscriber, *, already_confirmed: bool = False) -> None:
    """The double opt-in mail (or, for an address already confirmed, its preferences link)."""
    context = {
        "subscriber": subscriber,
        "already_confirmed": already_confirmed,
        "confirm_url": signed_links.confirm_url(subscriber),
        "preferences_url": signed_links.preferences_url(subscriber),
        "site_url": settings.SITE_URL,
        "valid_days": settings.DIGEST_CONFIRM_MAX_AGE // 86400,
    }
    subject, text, html = _render("confirm", context, lang=subscriber.lang)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [subscriber.email])
    message.attach_alternative(html, "text/html")
    connection = open_connection()
    try:
        send(message, connection=connection)
    finally:
        close_quietly(connection)
