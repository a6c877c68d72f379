from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SynthConfig(AppConfig):
    name = "synth"
    verbose_name = _("Synthetic pretraining lab")
