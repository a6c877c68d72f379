"""The product's roles as groups of model permissions, created after every `migrate` so they
exist on a fresh database. Staff get a role by joining its group; a superuser needs none.

Editor: curates the knowledge base and the weekly issues (papers, texts, commentary, issues,
tags), re-runs enrichment (which spends the LLM budget: papers.run_enrichment), and follows
the pipeline's records. The digest adds its rows to the same group (digest.apps); the lab has
its own role (synth.permissions)."""

from __future__ import annotations

EDITOR = "Editor"

CURATE = ("add", "change", "delete", "view")
EDITOR_MODEL_PERMISSIONS = {
    "paper": ("add", "change", "view"),
    "papertext": CURATE,
    "commentary": CURATE,
    "issue": ("add", "change", "view"),
    "issueentry": CURATE,
    "issueeditorial": CURATE,
    "author": ("add", "change", "view"),
    "paperauthor": CURATE,
    "tag": ("add", "change", "view"),
    "link": CURATE,
    # What the pipeline writes: an editor reads it, never edits it.
    "paperversion": ("view",),
    "sourcedocument": ("view",),
    "enrichmentstep": ("view",),
    "embedding": ("view",),
    "llmcall": ("view",),
    "passage": ("view",),
    "answer": ("view",),
}
EDITOR_CUSTOM_PERMISSIONS = ("run_enrichment",)


def codenames(model_permissions: dict[str, tuple[str, ...]], custom: tuple[str, ...] = ()) -> list[str]:
    return [f"{action}_{model}" for model, actions in model_permissions.items() for action in actions] + list(custom)


def ensure_group(name: str, *, app_label: str, permissions: list[str], using: str = "default") -> None:
    """Create the group, or give it back the permissions of app_label it should have.
    Idempotent: it adds what is missing and leaves permissions an administrator added by hand."""
    from django.contrib.auth.models import Group, Permission

    group, _created = Group.objects.using(using).get_or_create(name=name)
    wanted = Permission.objects.using(using).filter(content_type__app_label=app_label, codename__in=permissions)
    group.permissions.add(*wanted)


def ensure_editor_group(*, using: str = "default") -> None:
    ensure_group(EDITOR, app_label="papers", permissions=codenames(EDITOR_MODEL_PERMISSIONS, EDITOR_CUSTOM_PERMISSIONS),
                 using=using)
