"""What a question may be, and the language its answer is written in: the question's own."""

from __future__ import annotations

import re
import unicodedata

from django.conf import settings
from django.utils.translation import gettext as _

from papers.languages import HAN, HANGUL, KANA_RANGES

_KANA = re.compile(f"[{KANA_RANGES}]")
_LATIN = re.compile(r"[A-Za-z]")
# Words that ask rather than say what about: left out of the word lists, so that "which
# papers ... what did they find" matches passages by its subject alone.
QUESTION_WORDS = frozenset(
    "which what who whom whose how why when where does did do done they their them there this that these those "
    "paper papers any some about tell me please much many can could would should find found show shows use used".split()
)


class QuestionError(ValueError):
    """A question that cannot be asked; the message is for the reader, in their language."""


def clean_question(raw: str) -> str:
    """The question in normal form (NFKC, one space between words), or QuestionError."""
    # Control characters (NUL among them, which PostgreSQL cannot store) count as spaces.
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in unicodedata.normalize("NFKC", raw or ""))
    question = " ".join(text.split())
    if not question:
        raise QuestionError(_("Type a question."))
    if len(question) > settings.ASK_MAX_QUESTION_CHARS:
        raise QuestionError(_("That question is too long: at most %(n)d characters, please.")
                            % {"n": settings.ASK_MAX_QUESTION_CHARS})
    if not any(ch.isalnum() for ch in question):
        raise QuestionError(_("Nothing to answer: type at least one word."))
    question_lang(question)  # raises for other scripts
    return question


def question_lang(question: str) -> str:
    """ko, zh or en, by the script the question is written in. Japanese (kana) and scripts
    other than Latin, Hangul and Han are refused: the knowledge base cannot answer in them."""
    letters = [ch for ch in question if ch.isalpha()]
    if _KANA.search(question):
        raise QuestionError(_("Please ask in Korean, Chinese or English."))
    if HANGUL.search(question):
        return "ko"
    if HAN.search(question):
        return "zh"
    latin = sum(1 for ch in letters if _LATIN.match(ch))
    if latin and latin * 2 >= len(letters):
        return "en"
    raise QuestionError(_("Please ask in Korean, Chinese or English."))
