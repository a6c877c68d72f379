from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def create_editor_group(sender, using="default", **kwargs) -> None:
    from papers.roles import ensure_editor_group

    ensure_editor_group(using=using)


class PapersConfig(AppConfig):
    name = "papers"
    verbose_name = _("Knowledge base")

    def ready(self) -> None:
        from papers import checks  # noqa: F401  (registers the system checks)

        post_migrate.connect(create_editor_group, sender=self, dispatch_uid="papers.create_editor_group")
