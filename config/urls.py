from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: a POST form, works without JS
    path("admin/", admin.site.urls),
    path("lab/", include("synth.urls")),
    path("", include("digest.urls")),
    path("", include("papers.urls")),
]
