"""The staff app's pages: the console (/staff/…), what a person sees of accesses to their data
(/settings/accesses/), and the access log's published checkpoints (/transparency/log/…)."""

from django.urls import URLPattern, URLResolver, path

from candor.staff.views import transparency

app_name = "staff"

urlpatterns: list[URLPattern | URLResolver] = [
    # --- console ---
    # --- person ---
    # --- transparency ---
    path("transparency/log/", transparency.log_page, name="log_page"),
    path("transparency/log/checkpoints", transparency.checkpoints_json, name="log_checkpoints"),
]
