from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def create_lab_operator_group(sender, using="default", **kwargs) -> None:
    # After synth's migrations: auth's own post_migrate handler (connected first, as auth comes
    # first in INSTALLED_APPS) has created the permissions of synth's models by then.
    from synth.permissions import ensure_lab_operator_group

    ensure_lab_operator_group(using=using)


class SynthConfig(AppConfig):
    name = "synth"
    verbose_name = _("Synthetic pretraining lab")

    def ready(self) -> None:
        post_migrate.connect(create_lab_operator_group, sender=self, dispatch_uid="synth.create_lab_operator_group")
