from django import forms
from django.utils.translation import gettext_lazy as _

from papers.languages import Lang
from synth.models import SynthesisRun, Topic


class TopicForm(forms.ModelForm):
    languages = forms.TypedMultipleChoiceField(
        label=_("languages"), choices=Lang.choices, widget=forms.CheckboxSelectMultiple,
        help_text=_("Texts in these languages go in."),
    )

    class Meta:
        model = Topic
        fields = ["name", "description", "tags", "papers", "include_abstracts", "include_summaries",
                  "include_commentary", "languages"]


class SynthesizeForm(forms.Form):
    strategy = forms.ChoiceField(label=_("strategy"), choices=SynthesisRun.Strategy.choices)
    target_tokens = forms.IntegerField(
        label=_("target synthetic tokens"), min_value=0, required=False,
        help_text=_("Blank: 100 times the topic's source tokens. 0: no target."),
    )
    max_calls = forms.IntegerField(label=_("cap on LLM calls"), min_value=0, initial=0, help_text=_("0: no cap."))
    max_cost_usd = forms.DecimalField(label=_("cap on LLM cost (USD)"), min_value=0, initial=0, decimal_places=4,
                                      help_text=_("0: no cap."))
    seed = forms.IntegerField(label=_("seed"), min_value=0, initial=0)
    max_entities = forms.IntegerField(label=_("entities per document"), min_value=2, max_value=40, initial=12)
    triples_per_document = forms.IntegerField(label=_("triples per document"), min_value=0, max_value=1000, initial=10)
