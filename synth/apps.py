from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save
from django.utils.translation import gettext_lazy as _


def create_lab_operator_group(sender, using="default", **kwargs) -> None:
    # After synth's migrations: auth's own post_migrate handler (connected first, as auth comes
    # first in INSTALLED_APPS) has created the permissions of synth's models by then.
    from synth.permissions import ensure_lab_operator_group

    ensure_lab_operator_group(using=using)


def forget_topic_overviews(sender, **kwargs) -> None:
    from synth.corpus import forget_topic_overviews

    forget_topic_overviews()


class SynthConfig(AppConfig):
    name = "synth"
    verbose_name = _("Synthetic pretraining lab")

    def ready(self) -> None:
        post_migrate.connect(create_lab_operator_group, sender=self, dispatch_uid="synth.create_lab_operator_group")
        self._connect_topic_overview_invalidation()

    def _connect_topic_overview_invalidation(self) -> None:
        """Writes that change what a topic page lists (synth.corpus.topic_overview)."""
        from papers.models import Commentary, Paper, PaperText
        from synth.models import Topic

        for model in (Paper, PaperText, Commentary, Topic):
            for name, signal in (("save", post_save), ("delete", post_delete)):
                signal.connect(forget_topic_overviews, sender=model, dispatch_uid=f"synth.overview.{name}.{model.__name__}")
        for through in (Topic.tags.through, Topic.papers.through, Paper.tags.through, Commentary.papers.through):
            m2m_changed.connect(forget_topic_overviews, sender=through, dispatch_uid=f"synth.overview.m2m.{through.__name__}")
