"""Forms of the knowledge base's pages."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

from papers.categories import is_category_code
from papers.languages import Lang, normalize_lang
from papers.listing import MAX_PER_PAGE, PER_PAGE, SORTS, BadCursor, Cursor, Filters
from papers.models import Issue, Origin, Paper, Tag
from papers.search import normalize_query

MAX_RESULTS = 50


class EditedTextForm(forms.ModelForm):
    """The admin form of a text people write (paper texts, commentary, editorials): an edit
    of the words makes the text the editor's, so no import or enrichment replaces it later
    (papers.ingest.upsert). An editor who sets the origin by hand is taken at their word."""

    def save(self, commit=True):
        if "body" in self.changed_data and "origin" not in self.changed_data:
            self.instance.origin = Origin.EDITOR
            if hasattr(self.instance, "model"):
                self.instance.model = ""  # no machine wrote these words
        return super().save(commit)


class ReaderFilters:
    """What the search form and the paper list's filters share: the tag filter and the messages."""

    def clean_tag(self) -> str:
        slug = self.cleaned_data["tag"].strip().lstrip("#")
        if slug and not Tag.objects.filter(slug=slug).exists():
            raise forms.ValidationError(_("There is no tag “%(tag)s”."), params={"tag": slug})
        return slug

    def tag_choices(self) -> list[tuple[str, str]]:
        return list(Tag.objects.order_by("slug").values_list("slug", "name"))

    def check_date_range(self, data: dict) -> None:
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))

    def messages(self) -> list[str]:
        """Every error as one line, field label first, for the page and the API."""
        lines = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else ""
            lines += [f"{label}: {e}" if label else str(e) for e in errors]
        return lines


class SearchForm(ReaderFilters, forms.Form):
    """The search box and its filters; cleaned_data are search_papers()' keyword arguments.

    Every bad value becomes a message for the reader (never an exception): unknown tags,
    languages and issues, impossible dates, a query that is too long or has no words."""

    q = forms.CharField(label=_("Search"), required=False, strip=True)
    k = forms.IntegerField(label=_("Results"), required=False, min_value=1, max_value=MAX_RESULTS)
    tag = forms.CharField(label=_("Tag"), required=False, max_length=80)
    lang = forms.CharField(label=_("Language of the text"), required=False, max_length=16)
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    issue = forms.DateField(label=_("Issue"), required=False)

    def __init__(self, *args, require_query: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        q = self.fields["q"]
        q.max_length = settings.SEARCH_MAX_QUERY_CHARS
        q.validators.append(MaxLengthValidator(q.max_length))
        q.widget.attrs["maxlength"] = q.max_length
        q.required = require_query
        q.error_messages["required"] = _("Type a few words to search for.")

    def clean_q(self) -> str:
        q = normalize_query(self.cleaned_data["q"])
        if q and not any(ch.isalnum() for ch in q):
            raise forms.ValidationError(_("Nothing to search for: type at least one letter or digit."))
        return q

    def clean_k(self) -> int:
        return self.cleaned_data["k"] or 10


    def clean_lang(self) -> str:
        raw = self.cleaned_data["lang"].strip()
        if not raw:
            return ""
        code = normalize_lang(raw)
        if code is None:
            raise forms.ValidationError(
                _("Unknown language “%(lang)s”: use ko, zh or en."), params={"lang": raw}
            )
        return code

    def clean_issue(self):
        day = self.cleaned_data["issue"]
        if day is None:
            return None
        # Any day of an issue's week names it, as /issues/<day>/ does.
        # Drafts are the editors' until published: readers cannot find them through the filter.
        week = (Issue.objects.filter(status=Issue.Status.PUBLISHED, week_start__lte=day, week_end__gte=day)
                .values_list("week_start", flat=True).first())
        if week is None:
            raise forms.ValidationError(_("There is no issue for the week of %(day)s."), params={"day": day.isoformat()})
        return week

    def clean(self):
        data = super().clean()
        self.check_date_range(data)
        return data


    def lang_choices(self) -> list[tuple[str, str]]:
        return list(Lang.choices)

    def issue_choices(self) -> list[tuple[str, str]]:
        weeks = Issue.objects.filter(status=Issue.Status.PUBLISHED).order_by("-week_start").values_list("week_start", "week_end")
        return [(start.isoformat(), f"{start:%Y-%m-%d} – {end:%Y-%m-%d}") for start, end in weeks]



YES_NO = {"": None, "yes": True, "no": False}


class PaperListForm(ReaderFilters, forms.Form):
    """The filters and sort of /papers/ (and GET /api/papers); to_query() gives
    papers.listing.list_papers()' arguments. Every value is checked: an unknown tag,
    category, language or choice, a malformed date or cursor, a page size over the limit."""

    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=[
        ("newest", _("Newest")), ("updated", _("Recently updated")), ("arxiv", _("arXiv id")),
    ])
    tag = forms.CharField(label=_("Tag"), required=False, max_length=80)
    category = forms.CharField(label=_("arXiv category"), required=False, max_length=32)
    text_lang = forms.ChoiceField(label=_("Has a text in"), required=False, choices=[("", _("any language"))] + list(Lang.choices))
    came_from = forms.ChoiceField(label=_("Came from"), required=False, choices=[("", _("anywhere"))] + list(Paper.Came.choices))
    commentary = forms.ChoiceField(label=_("Commentary"), required=False, choices=[
        ("", _("with or without")), ("yes", _("with commentary")), ("no", _("without commentary")),
    ])
    in_issue = forms.ChoiceField(label=_("In an issue"), required=False, choices=[
        ("", _("in an issue or not")), ("yes", _("in a weekly issue")), ("no", _("not in an issue yet")),
    ])
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    per_page = forms.IntegerField(label=_("Per page"), required=False, min_value=1, max_value=MAX_PER_PAGE)
    after = forms.CharField(required=False, max_length=80, widget=forms.HiddenInput)

    def __init__(self, *args, categories: list | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.categories = categories  # [Category], shown as the category choices when given


    def clean_category(self) -> str:
        code = self.cleaned_data["category"].strip()
        if code and not (is_category_code(code) and Paper.objects.filter(categories__contains=[code]).exists()):
            raise forms.ValidationError(_("There is no arXiv category “%(code)s” here."), params={"code": code})
        return code

    def clean(self):
        data = super().clean()
        self.check_date_range(data)
        after = data.get("after")
        if after:
            try:
                Cursor.decode(after, sort=SORTS[data.get("sort") or "newest"])
            except BadCursor:
                self.add_error("after", _("This page link is damaged: start again from the first page."))
        return data

    def to_query(self, *, author=None) -> dict:
        """list_papers()' keyword arguments from the cleaned data."""
        data = self.cleaned_data
        filters = Filters(
            tag=data["tag"], category=data["category"], text_lang=data["text_lang"], came_from=data["came_from"],
            commentary=YES_NO[data["commentary"]], in_issue=YES_NO[data["in_issue"]],
            date_from=data["date_from"], date_to=data["date_to"], author=author,
        )
        return {"filters": filters, "sort": data["sort"] or "newest", "after": data["after"], "per_page": data["per_page"] or PER_PAGE}

    def choice_fields(self) -> list:
        return [self[name] for name in ("sort", "text_lang", "came_from", "commentary", "in_issue")]
