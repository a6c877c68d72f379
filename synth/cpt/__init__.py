"""The continued-pretraining trainer: data packing, model loading, the loop, evaluation.

Imports torch and transformers, never Django; synth.training.runner is the glue that feeds it
rows from the database. Importing this package itself is cheap (no torch), so callers can
catch CPTError without loading the stack.
"""


class CPTError(ValueError):
    """A setting or input the trainer cannot work with; the message says which and why."""
