"""The email digest: subscribers and the deliveries of each weekly issue to them. The issues
themselves are knowledge-base content (papers.models.Issue)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from papers.languages import Lang
from papers.models import Issue


class Subscriber(models.Model):
    """Someone who gets the weekly issue by email; no account, only signed links."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting for confirmation")
        CONFIRMED = "confirmed", _("confirmed")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
        BOUNCED = "bounced", _("address refused by its mail server")

    email = models.EmailField(_("email"), max_length=254, unique=True)  # stored lower-cased (digest.subscriptions)
    lang = models.CharField(_("language"), max_length=8, choices=Lang.choices, default=Lang.EN)
    tags = models.ManyToManyField(
        "papers.Tag", blank=True, related_name="subscribers", verbose_name=_("tags"),
        help_text=_("Only papers with one of these tags; none means every paper."),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("subscribed at"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)
    # digest.subscriptions.subscribe: at most one confirmation mail per address in a while.
    confirmation_sent_at = models.DateTimeField(_("confirmation mail sent at"), null=True, blank=True)
    bounce_reason = models.TextField(_("bounce reason"), blank=True)

    class Meta:
        ordering = ["email"]
        verbose_name = _("subscriber")
        verbose_name_plural = _("subscribers")
        # digest.sending.enqueue_issue selects the confirmed subscribers.
        indexes = [models.Index(fields=["status"], name="subscriber_status_idx")]

    def __str__(self) -> str:
        return self.email


class Delivery(models.Model):
    """One issue to one subscriber. The row is claimed (queued -> sending) before the mail
    goes out, so no crash, retry or second send command mails anyone twice. A row whose
    sender died mid-send is held as 'unknown' (the server may have taken the message) until
    an editor releases it or marks it sent; it is never sent again by itself."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        SKIPPED = "skipped", _("skipped")  # nothing for the subscriber's tags, or they left meanwhile
        FAILED = "failed", _("failed")
        UNKNOWN = "unknown", _("unknown: the sender stopped mid-send")

    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("issue"))
    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("subscriber")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)  # pushed back on a temporary error
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["issue", "id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["issue", "subscriber"], name="delivery_once_per_issue_subscriber"),
        ]
        indexes = [
            # digest.sending.send_due: the queued rows of an issue whose time has come.
            models.Index(fields=["issue", "status", "next_attempt_at"], name="delivery_due_idx"),
            # digest.sending.hold_interrupted: rows left in 'sending' by a killed worker.
            models.Index(fields=["status", "claimed_at"], name="delivery_stale_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.issue} → {self.subscriber} ({self.status})"
