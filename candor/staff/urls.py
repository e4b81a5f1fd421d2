"""The staff app's pages: the console (/staff/…), what a person sees of accesses to their data
(/settings/accesses/), and the access log's published checkpoints (/transparency/log/…)."""

from django.urls import URLPattern, URLResolver, path

from candor.staff.views import accesses

app_name = "staff"

urlpatterns: list[URLPattern | URLResolver] = [
    # --- console ---
    # --- person ---
    path("settings/accesses/", accesses.accesses, name="accesses"),
    # --- transparency ---
]
