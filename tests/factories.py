"""Rows the tests build by hand, shared by every test package (the seed import builds the rest)."""

from __future__ import annotations

import datetime as dt


def make_paper(*, title: str, published: dt.date | None, tags: list, texts: dict[str, dict[str, str]], arxiv_id: str = ""):
    """A paper with its tags and texts, given as {lang: {kind: body}}."""
    from papers.models import Paper, PaperText

    paper = Paper.objects.create(title=title, published=published, arxiv_id=arxiv_id)
    paper.tags.set(tags)
    for lang, kinds in texts.items():
        for kind, body in kinds.items():
            PaperText.objects.create(paper=paper, lang=lang, kind=kind, body=body)
    return paper


def staff_member(username: str, *, groups: tuple[str, ...] = ()):
    """Staff, never a superuser: what they may do comes from their groups, as in production."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(username=username, email=f"{username}@example.org",
                                                password="s3cret-pass!", is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=groups))
    assert user.groups.count() == len(groups), "a role group is missing: migrate creates them"
    return user
