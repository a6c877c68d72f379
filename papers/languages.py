"""Content languages and the one place that normalises language codes.

Content uses short codes (ko, zh, en); the interface uses Django's codes (ko, zh-hans, en).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Lang(models.TextChoices):
    KO = "ko", "한국어"
    ZH = "zh", "中文"
    EN = "en", "English"


CONTENT_LANGS = [Lang.KO.value, Lang.ZH.value, Lang.EN.value]

_ALIASES = {
    "ko": "ko", "ko-kr": "ko", "kor": "ko", "korean": "ko",
    "zh": "zh", "zh-hans": "zh", "zh-cn": "zh", "zh-hant": "zh", "zh-tw": "zh", "chinese": "zh",
    "en": "en", "en-us": "en", "en-gb": "en", "english": "en",
}


def normalize_lang(code: str | None) -> str | None:
    """A content language code for any spelling we meet (Django's, browsers', feeds'), or None."""
    if not code:
        return None
    return _ALIASES.get(code.strip().lower().replace("_", "-"))


def ui_lang(content_lang: str) -> str:
    """The interface (Django) code for a content language."""
    return {"zh": "zh-hans"}.get(content_lang, content_lang)
