from django.urls import path

from candor.analytics.views import popular as popular_views
from candor.analytics.views import trends as trends_views

app_name = "analytics"

# Included before the hub's catch-all /<username>/<name>/ patterns, which would otherwise take them.
urlpatterns = [
    path("models/popular/", popular_views.popular, name="popular"),
    path("models/trending/", popular_views.trending, name="trending"),
    path("models/popular.csv", popular_views.popular_csv, name="popular_csv"),
    path("models/trending.csv", popular_views.trending_csv, name="trending_csv"),
    # A model's own counts, for its owner. No hub path has this shape: the hub's end in a slash or go on
    # under files/.
    path("<str:username>/<str:name>/stats.csv", popular_views.model_stats_csv, name="model_stats_csv"),
    path("trends/", trends_views.trends, name="trends"),
    path("trends/<slug:chart>.csv", trends_views.trends_csv, name="trends_csv"),
]
