from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

# The editor follows the deliveries and acts on them (retry, release, mark sent); subscribers
# are theirs to look at, not to change.
EDITOR_DIGEST_PERMISSIONS = ["view_subscriber", "view_delivery", "change_delivery"]


def add_digest_to_editor_group(sender, using="default", **kwargs) -> None:
    from papers.roles import EDITOR, ensure_group

    ensure_group(EDITOR, app_label="digest", permissions=EDITOR_DIGEST_PERMISSIONS, using=using)


class DigestConfig(AppConfig):
    name = "digest"
    verbose_name = _("Weekly digest")

    def ready(self) -> None:
        post_migrate.connect(add_digest_to_editor_group, sender=self, dispatch_uid="digest.add_digest_to_editor_group")
