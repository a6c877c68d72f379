"""System checks that flag bad configuration when the project starts (`manage.py check`)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_secret_key_from_environment(app_configs, **kwargs):
    if settings.SECRET_KEY_IS_LOCAL:
        return [checks.Warning(
            "SECRET_KEY is the local key kept in var/secret_key.",
            hint="Set SECRET_KEY (or SECRET_KEY_FILE) in the environment of every deployment.",
            id="papers.W001",
        )]
    return []


@checks.register()
def check_llm_settings(app_configs, **kwargs):
    if settings.LLM_BASE_URL and not settings.LLM_MODEL:
        return [checks.Error("LLM_BASE_URL is set but LLM_MODEL is empty.", hint="Name the model to call.", id="papers.E001")]
    return []
