from django.urls import path

from digest.views import issues

app_name = "digest"
urlpatterns = [
    path("", issues.home, name="home"),
    path("issues/", issues.archive, name="archive"),
    path("issues/<str:week>/", issues.issue_detail, name="issue"),
]
