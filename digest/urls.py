from django.urls import path

from digest import feeds
from digest.views import subscriptions
from papers.page_cache import cached_for_readers

app_name = "digest"
urlpatterns = [
    path("subscribe/", subscriptions.subscribe, name="subscribe"),
    path("subscribe/confirm/<str:token>/", subscriptions.confirm, name="confirm"),
    path("subscribe/preferences/<str:token>/", subscriptions.preferences, name="preferences"),
    path("unsubscribe/<str:token>/", subscriptions.unsubscribe, name="unsubscribe"),
    path("feeds/<str:lang>/issues.rss", cached_for_readers(feeds.IssuesRss()), name="feed_rss"),
    path("feeds/<str:lang>/issues.atom", cached_for_readers(feeds.IssuesAtom()), name="feed_atom"),
    path("feeds/<str:lang>/tags/<str:slug>.rss", cached_for_readers(feeds.TagIssuesRss()), name="tag_feed_rss"),
    path("feeds/<str:lang>/tags/<str:slug>.atom", cached_for_readers(feeds.TagIssuesAtom()), name="tag_feed_atom"),
]
