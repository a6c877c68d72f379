"""The topic and synthesis run pages; synth/urls.py puts them in the synth namespace."""

from django.urls import path

from synth.synthesis import views

urlpatterns = [
    path("topics/", views.topic_list, name="topics"),
    path("topics/<int:pk>/", views.topic_detail, name="topic"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:pk>/resume/", views.run_resume, name="run_resume"),
    path("runs/<int:pk>/corpus.jsonl", views.run_export, name="run_export"),
]
