from django import forms

from synth.models import TrainingRun
from synth.training import HYPERPARAMETERS


class TrainForm(forms.ModelForm):
    """The admin's "Train" page: the base model and the hyperparameters."""

    class Meta:
        model = TrainingRun
        fields = ["base_model", *HYPERPARAMETERS]
