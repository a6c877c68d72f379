"""Who may do what in the lab. Looking is the models' view permissions; spending is two
custom permissions: synth.run_synthesis (LLM budget) and synth.run_training (GPU hours).

The product's lab role is the group "Lab operator", which holds both together with add,
change and view on the lab's models. apps.py creates it after every `migrate`, so it exists
on a fresh database; staff who should only look get the view permissions alone.
The admin actions declare these permissions (permissions=[...]) and the lab views check them
with lab_permission_required."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from papers.roles import codenames, ensure_group

LAB_OPERATOR = "Lab operator"
RUN_SYNTHESIS = "synth.run_synthesis"
RUN_TRAINING = "synth.run_training"

# (model, actions) of the operator's model permissions; the custom ones come on top.
OPERATOR_MODEL_PERMISSIONS = {
    "topic": ("add", "change", "view"),
    "synthesisrun": ("add", "change", "view"),
    "trainingrun": ("add", "change", "view"),
    "evalquestion": ("add", "change", "view"),
    # Rows the runner writes: an operator reads them to follow a run.
    "corpusdocument": ("view",),
    "synthesisunit": ("view",),
    "syntheticdocument": ("view",),
}
OPERATOR_CUSTOM_PERMISSIONS = ("run_synthesis", "run_training")


def operator_codenames() -> list[str]:
    return codenames(OPERATOR_MODEL_PERMISSIONS, OPERATOR_CUSTOM_PERMISSIONS)


def ensure_lab_operator_group(*, using: str = "default") -> None:
    ensure_group(LAB_OPERATOR, app_label="synth", permissions=operator_codenames(), using=using)


def lab_permission_required(perm: str):
    """A lab view for users with `perm`: anonymous users go to the login page, signed-in users
    without it get 403 (redirecting them to a login they already passed would loop)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perm(perm):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
