from django import forms
from django.utils.translation import gettext_lazy as _

from papers.languages import Lang
from papers.models import Tag

_UNKNOWN_LANGUAGE = _("Unknown language “%(value)s”: choose Korean, Chinese or English.")


class TagChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, tag: Tag) -> str:
        return f"#{tag.slug}"


class PreferencesForm(forms.Form):
    lang = forms.ChoiceField(
        label=_("Language"),
        choices=Lang.choices,
        initial=Lang.EN,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _UNKNOWN_LANGUAGE, "required": _("Choose the language of your digest.")},
        help_text=_("Papers without a text in this language are shown in English, and marked so."),
    )
    tags = TagChoiceField(
        label=_("Tags of interest"),
        queryset=Tag.objects.order_by("slug"),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": _("Unknown tag “%(value)s”.")},
        help_text=_("Only papers with one of these tags. Choose none to get every paper."),
    )


class SubscribeForm(PreferencesForm):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        error_messages={
            "invalid": _("Enter a valid email address, e.g. name@example.org."),
            "required": _("Enter your email address."),
        },
    )
    field_order = ["email", "lang", "tags"]
