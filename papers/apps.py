from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save
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
        self._connect_page_invalidation()

    def _connect_page_invalidation(self) -> None:
        """Writes that change what the reading pages show (papers.page_cache)."""
        from papers import models
        from papers.page_cache import forget_pages

        def forget(sender, **kwargs) -> None:
            forget_pages()

        shown = (models.Paper, models.PaperText, models.Commentary, models.Issue, models.IssueEntry, models.IssueEditorial,
                 models.Tag, models.Author, models.PaperAuthor, models.Link, models.PaperVersion, models.Embedding)
        for model in shown:
            for name, signal in (("save", post_save), ("delete", post_delete)):
                signal.connect(forget, sender=model, weak=False, dispatch_uid=f"papers.pages.{name}.{model.__name__}")
        for through in (models.Paper.tags.through, models.Commentary.papers.through):
            m2m_changed.connect(forget, sender=through, weak=False, dispatch_uid=f"papers.pages.m2m.{through.__name__}")
