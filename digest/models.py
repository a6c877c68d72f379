"""Weekly issues (and, with the digest issue, subscribers and deliveries)."""

from __future__ import annotations

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from papers.languages import Lang
from papers.models import Origin, Paper, SourceDocument


class Issue(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        PUBLISHED = "published", _("published")

    week_start = models.DateField(_("week starts"), unique=True)  # a Monday
    week_end = models.DateField(_("week ends"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    source = models.ForeignKey(SourceDocument, null=True, blank=True, on_delete=models.SET_NULL, related_name="issues")
    source_urls = models.JSONField(_("original URLs"), default=list, blank=True)
    papers = models.ManyToManyField(Paper, through="IssueEntry", related_name="issues")

    class Meta:
        ordering = ["-week_start"]
        verbose_name = _("issue")
        verbose_name_plural = _("issues")
        # Home and archive list published issues newest first.
        indexes = [models.Index(fields=["status", "-week_start"], name="issue_status_week_idx")]

    def __str__(self) -> str:
        return f"{self.week_start:%Y-%m-%d} – {self.week_end:%Y-%m-%d}"

    def get_absolute_url(self) -> str:
        return reverse("digest:issue", kwargs={"week": self.week_start.isoformat()})


class IssueEditorial(models.Model):
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="editorials")
    lang = models.CharField(_("language"), max_length=8, choices=Lang.choices)
    body = models.TextField(_("editorial"))
    origin = models.CharField(_("origin"), max_length=16, choices=Origin.choices, default=Origin.SOURCE)

    class Meta:
        ordering = ["issue", "lang"]
        constraints = [models.UniqueConstraint(fields=["issue", "lang"], name="issueeditorial_one_per_lang")]

    def __str__(self) -> str:
        return f"{self.issue} [{self.lang}]"


class IssueEntry(models.Model):
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="entries")
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="issue_entries")
    position = models.PositiveSmallIntegerField(_("position"))

    class Meta:
        ordering = ["issue", "position"]
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        constraints = [models.UniqueConstraint(fields=["issue", "paper"], name="issueentry_paper_once")]

    def __str__(self) -> str:
        return f"{self.issue} #{self.position}: {self.paper}"
