"""Content languages, the one place that normalises language codes, and the scripts they
are written in.

Content uses short codes (ko, zh, en); the interface uses Django's codes (ko, zh-hans, en).
"""

import re

from django.db import models
from django.utils.translation import get_language


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


def reader_lang() -> str:
    """The content language for the active interface language, else English: what a page
    shows when the reader asked for no language of their own."""
    return normalize_lang(get_language()) or "en"


def ui_lang(content_lang: str) -> str:
    """The interface (Django) code for a content language."""
    return {"zh": "zh-hans"}.get(content_lang, content_lang)


# Scripts, as ranges for a regex character class. The SQL function cjk_bigrams() (migration
# papers/0003) spells out CJK_RANGES for the ko/zh indexes: changing them needs a migration
# that recreates the function and its indexes, or the query's pieces stop matching the index.
HANGUL_RANGES = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"  # jamo, compatibility jamo, syllables
KANA_RANGES = "\u3040-\u30ff"  # hiragana, katakana
HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # extension A, unified, compatibility ideographs
CJK_RANGES = HANGUL_RANGES + KANA_RANGES + HAN_RANGES

HANGUL = re.compile(f"[{HANGUL_RANGES}]")
HAN = re.compile(f"[{HAN_RANGES}]")
CJK = re.compile(f"[{CJK_RANGES}]")
CJK_RUN = re.compile(f"[{CJK_RANGES}]+")


def is_cjk(text: str) -> bool:
    """Whether text holds any Hangul, kana or Han character."""
    return CJK.search(text) is not None


def script_lang(text: str) -> str:
    """The content language a text's script points to: Korean for any Hangul (Korean ML
    writing mixes in English terms), Chinese for Han without Hangul, else English."""
    if HANGUL.search(text):
        return Lang.KO.value
    return Lang.ZH.value if HAN.search(text) else Lang.EN.value
