"""Admin for weekly issues and the email digest: editors curate an issue's entries and
editorials in one page, publish it, follow its deliveries and send a test copy; subscribers
and deliveries. The issue models are the knowledge base's (papers.models); publishing and
mailing them is this app's."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Count, QuerySet
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy as _, ngettext

from digest import issues, mail, sending, tasks
from digest.models import Delivery, Subscriber
from papers.forms import EditedTextForm
from papers.languages import Lang
from papers.models import Issue, IssueEditorial, IssueEntry


class SendTestCopyForm(forms.Form):
    email = forms.EmailField(label=_("Send to"))
    lang = forms.ChoiceField(label=_("Language"), choices=Lang.choices, initial=Lang.EN)


class IssueEditorialInline(admin.StackedInline):
    model = IssueEditorial
    form = EditedTextForm
    extra = 0
    fields = [("lang", "origin"), "body"]


class IssueEntryInline(admin.TabularInline):
    model = IssueEntry
    extra = 0
    fields = ["position", "paper"]
    autocomplete_fields = ["paper"]
    ordering = ["position"]


@admin.register(Issue)
class IssueAdmin(admin.ModelAdmin):
    """The editors' publishing tool: curate entries and editorials, publish, and mail."""

    list_display = ["__str__", "status", "published_at", "paper_count", "delivery_progress"]
    list_filter = ["status"]
    search_fields = ["week_start", "papers__title"]
    date_hierarchy = "week_start"
    raw_id_fields = ["source"]
    inlines = [IssueEditorialInline, IssueEntryInline]
    readonly_fields = ["delivery_progress"]
    actions = ["publish_and_send", "publish_only", "resume_sending", "send_test_copy"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(entry_count=Count("entries"))

    @admin.display(description=_("papers"), ordering="entry_count")
    def paper_count(self, obj):
        return obj.entry_count

    @admin.display(description=_("deliveries"))
    def delivery_progress(self, issue: Issue) -> str:
        counts = sending.delivery_counts(issue)
        total = sum(counts.values())
        if not total:
            return "–"
        url = reverse("admin:digest_delivery_changelist") + f"?issue__id__exact={issue.pk}"
        detail = ", ".join(f"{Delivery.Status(s).label} {n}" for s, n in counts.items() if n and s != Delivery.Status.SENT)
        return format_html('<a href="{}">{} / {} {}</a>{}', url, counts[Delivery.Status.SENT], total, gettext("sent"),
                           f" ({detail})" if detail else "")

    @admin.action(description=_("Publish and email subscribers"), permissions=["change"])
    def publish_and_send(self, request, queryset: QuerySet[Issue]) -> None:
        for issue in queryset:
            issue = issues.publish_issue(issue)  # freezes the content; re-publishing changes nothing
            tasks.send_issue.delay_on_commit(issue.pk)
        n = queryset.count()
        self.message_user(
            request,
            ngettext("%d issue published; sending has started (see the deliveries column).",
                     "%d issues published; sending has started (see the deliveries column).", n) % n,
        )

    @admin.action(description=_("Publish without sending (the Monday beat mails it)"), permissions=["change"])
    def publish_only(self, request, queryset: QuerySet[Issue]) -> None:
        for issue in queryset:
            issues.publish_issue(issue)
        n = queryset.count()
        self.message_user(request, ngettext("%d issue published.", "%d issues published.", n) % n)

    @admin.action(description=_("Resume sending (published issues: new subscribers and retries)"), permissions=["change"])
    def resume_sending(self, request, queryset: QuerySet[Issue]) -> None:
        published = list(queryset.filter(status=Issue.Status.PUBLISHED).values_list("pk", flat=True))
        for pk in published:
            tasks.send_issue.delay_on_commit(pk)
        skipped = queryset.count() - len(published)
        if skipped:
            self.message_user(request, gettext("Drafts are not sent; publish them first."), messages.WARNING)
        self.message_user(request, ngettext("Sending %d issue.", "Sending %d issues.", len(published)) % len(published))

    @admin.action(description=_("Send a test copy to one address"), permissions=["change"])
    def send_test_copy(self, request, queryset: QuerySet[Issue]):
        if queryset.count() != 1:
            self.message_user(request, gettext("Select exactly one issue for a test copy."), messages.ERROR)
            return None
        issue = queryset.get()
        form = SendTestCopyForm(request.POST if "send" in request.POST else None, initial={"email": request.user.email})
        if form.is_valid():
            try:
                mail.send_test_copy(issue, **form.cleaned_data)
            except mail.MailError as e:
                self.message_user(request, gettext("The test copy was not sent: %s") % e, messages.ERROR)
            else:
                self.message_user(request, gettext("Test copy of %(issue)s sent to %(email)s.") % {
                    "issue": issue, "email": form.cleaned_data["email"]})
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Send a test copy"),
            "opts": self.model._meta,
            "issue": issue,
            "form": form,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "digest/admin_send_test_copy.html", context)


@admin.register(IssueEditorial)
class IssueEditorialAdmin(admin.ModelAdmin):
    form = EditedTextForm
    list_display = ["issue", "lang", "origin"]
    list_filter = ["lang", "origin"]
    list_select_related = ["issue"]
    search_fields = ["body"]


@admin.register(IssueEntry)
class IssueEntryAdmin(admin.ModelAdmin):
    list_display = ["issue", "position", "paper"]
    list_select_related = ["issue", "paper"]
    list_filter = ["issue"]
    search_fields = ["paper__title", "paper__arxiv_id"]
    autocomplete_fields = ["paper"]


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ("email", "lang", "status", "created_at", "confirmed_at")
    list_filter = ("status", "lang", "tags")
    search_fields = ("email",)
    filter_horizontal = ("tags",)
    readonly_fields = ("created_at", "confirmed_at", "unsubscribed_at", "bounce_reason")
    date_hierarchy = "created_at"


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("issue", "subscriber", "status", "attempts", "next_attempt_at", "sent_at", "last_error")
    list_filter = ("status", "issue")
    search_fields = ("subscriber__email",)
    list_select_related = ("issue", "subscriber")
    readonly_fields = ("issue", "subscriber", "status", "attempts", "next_attempt_at", "claimed_at", "sent_at", "last_error")
    actions = ["retry_failed", "release_unknown", "mark_sent"]

    def has_add_permission(self, request) -> bool:
        return False  # rows are made by sending.enqueue_issue, one per (issue, subscriber)

    @admin.action(description=_("Send the selected 'unknown' deliveries again (they were not mailed)"), permissions=["change"])
    def release_unknown(self, request, queryset: QuerySet[Delivery]) -> None:
        n = queryset.filter(status=Delivery.Status.UNKNOWN).count()
        for issue_id in sending.release_unknown(queryset):
            tasks.send_issue.delay_on_commit(issue_id)
        self.message_user(request, ngettext("%d delivery queued again.", "%d deliveries queued again.", n) % n)

    @admin.action(description=_("Mark the selected 'unknown' deliveries as sent (they were mailed)"), permissions=["change"])
    def mark_sent(self, request, queryset: QuerySet[Delivery]) -> None:
        n = sending.mark_sent(queryset)
        self.message_user(request, ngettext("%d delivery marked sent.", "%d deliveries marked sent.", n) % n)

    @admin.action(description=_("Retry the selected failed deliveries"), permissions=["change"])
    def retry_failed(self, request, queryset: QuerySet[Delivery]) -> None:
        issue_ids = list(queryset.filter(status=Delivery.Status.FAILED).values_list("issue_id", flat=True).distinct())
        n = queryset.filter(status=Delivery.Status.FAILED, subscriber__status=Subscriber.Status.CONFIRMED).update(
            status=Delivery.Status.QUEUED, attempts=0, last_error=""
        )
        for issue_id in issue_ids:
            tasks.send_issue.delay_on_commit(issue_id)
        self.message_user(request, ngettext("%d delivery queued again.", "%d deliveries queued again.", n) % n)
