"""Subscribing without an account: double opt-in, preferences and unsubscribe through
signed links (django.core.signing), one salt per purpose so a link does only its own job."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from digest.models import Subscriber
from papers.models import Tag

CONFIRM_SALT = "digest.subscriptions.confirm"
PREFERENCES_SALT = "digest.subscriptions.preferences"
UNSUBSCRIBE_SALT = "digest.subscriptions.unsubscribe"
CONFIRMATION_INTERVAL = dt.timedelta(minutes=10)


class BadLink(Exception):
    """A signed link that is forged, damaged, expired, or for an address no longer here."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


def normalize_email(email: str) -> str:
    # One row per mailbox however it is typed; providers treat the local part case-insensitively.
    return email.strip().lower()


# --- Tokens ---------------------------------------------------------------------------


def make_token(subscriber: Subscriber, *, salt: str) -> str:
    # The address is signed too: a row deleted and re-created under another address never
    # accepts the old row's links.
    return signing.dumps({"id": subscriber.pk, "email": subscriber.email}, salt=salt, compress=True)


def read_token(token: str, *, salt: str, max_age: int) -> Subscriber:
    try:
        data = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired as e:
        raise BadLink("expired", expired=True) from e
    except signing.BadSignature as e:
        raise BadLink("bad signature") from e
    subscriber = Subscriber.objects.filter(pk=data.get("id"), email=data.get("email")).first()
    if subscriber is None:
        raise BadLink("no such subscriber")
    return subscriber


def confirm_url(subscriber: Subscriber) -> str:
    token = make_token(subscriber, salt=CONFIRM_SALT)
    return settings.SITE_URL + reverse("digest:confirm", kwargs={"token": token})


def preferences_url(subscriber: Subscriber) -> str:
    token = make_token(subscriber, salt=PREFERENCES_SALT)
    return settings.SITE_URL + reverse("digest:preferences", kwargs={"token": token})


def unsubscribe_url(subscriber: Subscriber) -> str:
    token = make_token(subscriber, salt=UNSUBSCRIBE_SALT)
    return settings.SITE_URL + reverse("digest:unsubscribe", kwargs={"token": token})


def subscriber_for_confirm(token: str) -> Subscriber:
    return read_token(token, salt=CONFIRM_SALT, max_age=settings.DIGEST_CONFIRM_MAX_AGE)


def subscriber_for_preferences(token: str) -> Subscriber:
    return read_token(token, salt=PREFERENCES_SALT, max_age=settings.DIGEST_LINK_MAX_AGE)


def subscriber_for_unsubscribe(token: str) -> Subscriber:
    return read_token(token, salt=UNSUBSCRIBE_SALT, max_age=settings.DIGEST_LINK_MAX_AGE)


# --- Operations -----------------------------------------------------------------------


@dataclass(frozen=True)
class SubscribeResult:
    subscriber: Subscriber
    already_confirmed: bool
    mailed: bool  # False when a confirmation mail went to this address moments ago


def subscribe(*, email: str, lang: str, tags: list[Tag] | None = None) -> SubscribeResult:
    """Record a request to subscribe and send the confirmation mail (MailError if it fails).

    Nothing is mailed until the address's owner confirms. A confirmed address keeps its
    preferences (anyone can type anyone's address here); it gets a mail with its
    preferences link instead. The caller shows the same page either way, so the form tells
    no one who is subscribed, and one address gets at most one such mail per
    CONFIRMATION_INTERVAL, so the form cannot flood anyone's inbox."""
    from digest import mail  # mail imports this module for the links it writes

    now = timezone.now()
    with transaction.atomic():
        subscriber, _ = Subscriber.objects.select_for_update().get_or_create(
            email=normalize_email(email), defaults={"lang": lang}
        )
        already = subscriber.status == Subscriber.Status.CONFIRMED
        if not already:
            subscriber.lang = lang
            subscriber.status = Subscriber.Status.PENDING
            subscriber.save(update_fields=["lang", "status"])
            subscriber.tags.set(tags or [])
        last = subscriber.confirmation_sent_at
        due = last is None or last <= now - CONFIRMATION_INTERVAL
        if due:
            subscriber.confirmation_sent_at = now
            subscriber.save(update_fields=["confirmation_sent_at"])
    if due:
        # Mailed after the commit, so the link never points at a row that was rolled back.
        try:
            mail.send_confirmation(subscriber, already_confirmed=already)
        except mail.MailError:
            Subscriber.objects.filter(pk=subscriber.pk).update(confirmation_sent_at=last)  # let them try again
            raise
    return SubscribeResult(subscriber=subscriber, already_confirmed=already, mailed=due)


def confirm(subscriber: Subscriber) -> Subscriber:
    """Confirm a pending (or formerly unsubscribed, now re-subscribing) address. Idempotent."""
    if subscriber.status != Subscriber.Status.CONFIRMED:
        subscriber.status = Subscriber.Status.CONFIRMED
        subscriber.confirmed_at = timezone.now()
        subscriber.unsubscribed_at = None
        subscriber.bounce_reason = ""
        subscriber.save(update_fields=["status", "confirmed_at", "unsubscribed_at", "bounce_reason"])
    return subscriber


@transaction.atomic
def update_preferences(subscriber: Subscriber, *, lang: str, tags: list[Tag]) -> Subscriber:
    subscriber.lang = lang
    subscriber.save(update_fields=["lang"])
    subscriber.tags.set(tags)
    return subscriber


def unsubscribe(subscriber: Subscriber) -> Subscriber:
    """Stop all mail to this address. Idempotent; queued deliveries are skipped at send time."""
    if subscriber.status != Subscriber.Status.UNSUBSCRIBED:
        subscriber.status = Subscriber.Status.UNSUBSCRIBED
        subscriber.unsubscribed_at = timezone.now()
        subscriber.save(update_fields=["status", "unsubscribed_at"])
    return subscriber
