from django.conf import settings


def site(request) -> dict:
    """What every page needs: whether the LLM is configured (offline mode is labelled)."""
    return {"LLM_OFFLINE": not getattr(settings, "LLM_BASE_URL", ""), "SITE_URL": settings.SITE_URL,
            "ASK_MAX_QUESTION_CHARS": settings.ASK_MAX_QUESTION_CHARS}
