"""Arguments the synth commands share: one way to name a topic on the command line."""

from __future__ import annotations

from django.core.management.base import CommandError

from synth.models import Topic


def topic_from_arg(ref: str | None) -> Topic:
    """The topic `ref` names: an id, or a name (exact, then ignoring case, then a unique
    beginning of one). An unknown name, or one that fits several topics, is a CommandError
    that lists the candidates; so is a number that is one topic's id and another's name."""
    ref = (ref or "").strip()
    if not ref:
        raise CommandError("name a topic: its id or its name")
    by_id = Topic.objects.filter(pk=int(ref)).first() if ref.isdigit() else None
    by_name = _by_name(ref)
    if by_id and by_name and by_id != by_name:
        raise CommandError(f"{ref!r} is ambiguous: the id of {_label(by_id)} and the name of {_label(by_name)}; "
                           f"give the id {by_name.pk} for the second")
    topic = by_id or by_name
    if topic is None:
        known = ", ".join(_label(t) for t in Topic.objects.order_by("pk")[:10]) or "none yet"
        raise CommandError(f"no topic {ref!r}; topics: {known}")
    return topic


def _by_name(ref: str) -> Topic | None:
    for lookup in ("name", "name__iexact", "name__istartswith"):
        found = list(Topic.objects.filter(**{lookup: ref}).order_by("pk")[:11])
        if len(found) == 1:
            return found[0]
        if found:
            listed = ", ".join(_label(t) for t in found[:10])
            raise CommandError(f"topic name {ref!r} is ambiguous: it fits {listed}; give the id or the whole name")
    return None


def _label(topic: Topic) -> str:
    return f"#{topic.pk} {topic.name!r}"
