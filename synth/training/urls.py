"""The training run pages; synth/urls.py puts them in the synth namespace."""

from django.urls import path

from synth.training import views

urlpatterns = [
    path("training/<int:pk>/", views.training_run, name="training_run"),
    path("training/<int:pk>/cancel/", views.training_cancel, name="training_cancel"),
    path("training/<int:pk>/resume/", views.training_resume, name="training_resume"),
]
