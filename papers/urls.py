from django.urls import include, path

from papers.api import api
from papers.views import ask, browse, issues, listing, search

app_name = "papers"
urlpatterns = [
    path("", issues.home, name="home"),
    path("issues/", issues.archive, name="archive"),
    path("issues/<str:week>/", issues.issue_detail, name="issue"),
    path("papers/", listing.paper_list, name="list"),
    path("papers/<int:pk>/", browse.paper_detail, name="detail"),
    path("tags/", browse.tag_list, name="tags"),
    path("tags/<str:slug>/", browse.tag_detail, name="tag"),
    path("authors/<str:slug>/", listing.author_detail, name="author"),
    path("categories/", listing.category_list, name="categories"),
    path("categories/<str:code>/", listing.category_detail, name="category"),
    path("search/", search.search, name="search"),
    path("ask/", ask.ask_page, name="ask"),
    path("ask/<uuid:uid>/", ask.answer_detail, name="answer"),
    path("api/", include(api.urls[0])),  # papers:api_search, papers:api_ask, papers:openapi-json, papers:openapi-view (/api/docs)
]
