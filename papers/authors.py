"""Who an author is: the one place that decides when two author names are the same person.

arXiv and the seed files give names only, no identifiers, so a name is matched by its key:
Unicode-normalised, accents dropped, case folded, dots, hyphens and commas read as spaces,
spaces collapsed. "Zheng-Xin Yong", "Zheng Xin Yong" and "zheng-xin yong" are one author;
"Jörg Tiedemann" and "Jorg Tiedemann" are one author; "J. Smith" and "John Smith" are two.

Two different people with one name cannot be told apart from a name. They share one author
page until an editor splits them (a second author row with the same name in the admin,
holding the other person's papers); from then on an import picks, among the authors with
the key, the one who has written with the most of the paper's other authors (the older row
on a tie), and never creates a third.
"""

from __future__ import annotations

import re
import unicodedata

from django.db.models import Count, Q
from django.utils.text import slugify

from papers.models import Author

_SEPARATORS = re.compile(r"[\s.,\-‐‑‒–—_'’]+")


def author_key(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SEPARATORS.sub(" ", bare.casefold()).strip()


def clean_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).split())


def unique_slug(name: str) -> str:
    """A URL slug for a new author: the name's, with -2, -3, ... when taken."""
    base = (slugify(name, allow_unicode=True) or "author")[:200]
    slug, n = base, 1
    while Author.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def author_for(name: str, *, coauthors: list[str] = ()) -> Author:
    """The author a name on a paper stands for, created when no author has its key."""
    key = author_key(name)
    candidates = Author.objects.filter(key=key)
    if len(candidates[:2]) > 1:
        other_keys = [author_key(n) for n in coauthors if author_key(n) != key]
        candidates = candidates.annotate(
            shared=Count("papers__authors", filter=Q(papers__authors__key__in=other_keys), distinct=True)
        ).order_by("-shared", "pk")
    else:
        candidates = candidates.order_by("pk")
    author = candidates.first()
    if author is None:
        name = clean_name(name)
        author = Author.objects.create(name=name, key=key, slug=unique_slug(name))
    return author
