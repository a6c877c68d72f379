from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PapersConfig(AppConfig):
    name = "papers"
    verbose_name = _("Knowledge base")

    def ready(self) -> None:
        from papers import checks  # noqa: F401  (registers the system checks)
