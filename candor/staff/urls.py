"""The staff app's pages: the console (/staff/…), what a person sees of accesses to their data
(/settings/accesses/), and the access log's published checkpoints (/transparency/log/…)."""

from django.urls import URLPattern, URLResolver, path

from candor.staff.views import accesses, console, transparency, updates

app_name = "staff"

urlpatterns: list[URLPattern | URLResolver] = [
    # --- console ---
    path("staff/", console.home, name="home"),
    path("staff/second-factor/", console.second_factor_setup, name="second_factor"),
    path("staff/second-factor/codes/", console.recovery_codes, name="recovery_codes"),
    path("staff/verify/", console.verify_code, name="verify"),
    path("staff/agreement/", console.agreement, name="agreement"),
    path("staff/find/", console.find, name="find"),
    path("staff/grants/", console.grants, name="grants"),
    path("staff/grants/new/<uuid:subject_id>/", console.grant_new, name="grant_new"),
    path("staff/grants/<str:public_id>/", console.grant, name="grant"),
    path("staff/grants/<str:public_id>/decide/", console.grant_decide, name="grant_decide"),
    path("staff/grants/<str:public_id>/end/", console.grant_end, name="grant_end"),
    path("staff/grants/<str:public_id>/reveal/", console.grant_reveal, name="grant_reveal"),
    path("staff/members/", console.members, name="members"),
    path("staff/members/<int:pk>/", console.member_change, name="member"),
    # --- product updates (communications and administrators) ---
    path("staff/updates/", updates.update_list, name="updates"),
    path("staff/updates/new/", updates.update_new, name="update_new"),
    path("staff/updates/<str:public_id>/", updates.update_detail, name="update"),
    path("staff/updates/<str:public_id>/edit/", updates.update_edit, name="update_edit"),
    path("staff/updates/<str:public_id>/preview/", updates.update_preview, name="update_preview"),
    path("staff/updates/<str:public_id>/email.html", updates.update_email, name="update_email"),
    path("staff/updates/<str:public_id>/test/", updates.update_test, name="update_test"),
    path("staff/updates/<str:public_id>/send/", updates.update_send, name="update_send"),
    path("staff/updates/<str:public_id>/cancel/", updates.update_cancel, name="update_cancel"),
    # --- person ---
    path("settings/accesses/", accesses.accesses, name="accesses"),
    # --- transparency ---
    path("transparency/log/", transparency.log_page, name="log_page"),
    path("transparency/log/checkpoints", transparency.checkpoints_json, name="log_checkpoints"),
]
