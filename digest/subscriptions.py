"""Subscribing without an account: double opt-in, preferences and unsubscribe, reached
through the signed links of digest.signed_links."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from digest import mail
from digest.models import Subscriber
from papers.models import Tag

CONFIRMATION_INTERVAL = dt.timedelta(minutes=10)


def normalize_email(email: str) -> str:
    # One row per mailbox however it is typed; providers treat the local part case-insensitively.
    return email.strip().lower()


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
