"""config.urls with the training pages in the synth namespace and the training admins
registered, as they will be once synth/urls.py adds `urls_training.urlpatterns` and
synth/admin.py imports synth.admin_training (the lead's edits); harmless after them."""

from django.contrib import admin
from django.urls import include, path

import synth.admin_training  # noqa: F401  registers the TrainingRun and EvalQuestion admins
from config import urls as config_urls
from synth import urls as synth_urls
from synth import urls_training

_names = {p.name for p in synth_urls.urlpatterns}
_synth = [*synth_urls.urlpatterns, *(p for p in urls_training.urlpatterns if p.name not in _names)]
urlpatterns = [
    path("admin/", admin.site.urls),  # built again: the registry now has the training admins
    path("lab/", include((_synth, "synth"))),
    *(p for p in config_urls.urlpatterns if getattr(p, "namespace", None) not in ("synth", "admin")),
]
