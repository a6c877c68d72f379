"""Forms of the knowledge base's pages."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

from papers.languages import Lang, normalize_lang
from papers.models import Issue, Origin, Tag
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


class SearchForm(forms.Form):
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

    def clean_tag(self) -> str:
        slug = self.cleaned_data["tag"].strip().lstrip("#")
        if slug and not Tag.objects.filter(slug=slug).exists():
            raise forms.ValidationError(_("There is no tag “%(tag)s”."), params={"tag": slug})
        return slug

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
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return data

    def tag_choices(self) -> list[tuple[str, str]]:
        return list(Tag.objects.order_by("slug").values_list("slug", "name"))

    def lang_choices(self) -> list[tuple[str, str]]:
        return list(Lang.choices)

    def issue_choices(self) -> list[tuple[str, str]]:
        weeks = Issue.objects.filter(status=Issue.Status.PUBLISHED).order_by("-week_start").values_list("week_start", "week_end")
        return [(start.isoformat(), f"{start:%Y-%m-%d} – {end:%Y-%m-%d}") for start, end in weeks]

    def messages(self) -> list[str]:
        """Every error as one line, field label first, for the page and the API."""
        lines = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else ""
            lines += [f"{label}: {e}" if label else str(e) for e in errors]
        return lines
