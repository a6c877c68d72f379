"""Admin for weekly issues: editors curate an issue's entries and editorials in one page."""

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from digest.models import Issue, IssueEditorial, IssueEntry


class IssueEditorialInline(admin.StackedInline):
    model = IssueEditorial
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
    list_display = ["__str__", "status", "published_at", "paper_count"]
    list_filter = ["status"]
    search_fields = ["week_start", "papers__title"]
    date_hierarchy = "week_start"
    raw_id_fields = ["source"]
    inlines = [IssueEditorialInline, IssueEntryInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(entry_count=Count("entries"))

    @admin.display(description=_("papers"), ordering="entry_count")
    def paper_count(self, obj):
        return obj.entry_count


@admin.register(IssueEditorial)
class IssueEditorialAdmin(admin.ModelAdmin):
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


# The email digest's admin (subscribers, deliveries, publish/send actions) extends IssueAdmin above.
from digest import admin_delivery  # noqa: E402, F401
