from django.urls import path

from papers.views import ask, browse, issues, search

app_name = "papers"
urlpatterns = [
    path("", issues.home, name="home"),
    path("issues/", issues.archive, name="archive"),
    path("issues/<str:week>/", issues.issue_detail, name="issue"),
    path("papers/<int:pk>/", browse.paper_detail, name="detail"),
    path("tags/", browse.tag_list, name="tags"),
    path("tags/<str:slug>/", browse.tag_detail, name="tag"),
    path("search/", search.search, name="search"),
    path("api/search", search.api_search, name="api_search"),
    path("ask/", ask.ask_page, name="ask"),
    path("ask/<uuid:uid>/", ask.answer_detail, name="answer"),
    path("api/ask", ask.api_ask, name="api_ask"),
]
