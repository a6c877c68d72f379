"""The training pages; synth/urls.py adds these to the synth namespace (urlpatterns += ...)."""

from django.urls import path

from synth import views_training

urlpatterns = [
    path("training/<int:pk>/", views_training.training_run, name="training_run"),
    path("training/<int:pk>/cancel/", views_training.training_cancel, name="training_cancel"),
]
