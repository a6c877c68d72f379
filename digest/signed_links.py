"""Signed links for subscribers without an account (django.core.signing): confirm,
preferences and unsubscribe, one salt per purpose so a link does only its own job. Mails
(digest.mail) write them; the subscription pages (digest.views.subscriptions) read them."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from digest.models import Subscriber

# The salts keep their old module's name: links already mailed must keep working.
CONFIRM_SALT = "digest.subscriptions.confirm"
PREFERENCES_SALT = "digest.subscriptions.preferences"
UNSUBSCRIBE_SALT = "digest.subscriptions.unsubscribe"


class BadLink(Exception):
    """A signed link that is forged, damaged, expired, or for an address no longer here."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


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
