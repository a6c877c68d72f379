"""The synth app's admin lives in its two sub-packages; importing them registers it."""

from synth.synthesis import admin as synthesis_admin  # noqa: F401
from synth.training import admin as training_admin  # noqa: F401
