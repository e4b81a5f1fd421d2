"""The staff app's pages: the console (/staff/…), what a person sees of accesses to their data
(/settings/accesses/), and the access log's published checkpoints (/transparency/log/…)."""

from django.urls import URLPattern, URLResolver, path

from candor.staff.views import accesses, blog, console, transparency, updates

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
    # --- the blog (candor.comms): communications and administrator roles ---
    path("staff/blog/", blog.post_list, name="posts"),
    path("staff/blog/new/", blog.post_new, name="post_new"),
    path("staff/blog/posts/<slug:slug>/", blog.post_edit, name="post_edit"),
    path("staff/blog/posts/<slug:slug>/preview/", blog.post_preview, name="post_preview"),
    path("staff/blog/posts/<slug:slug>/publish/", blog.post_publish, name="post_publish"),
    path("staff/blog/posts/<slug:slug>/unpublish/", blog.post_unpublish, name="post_unpublish"),
    path("staff/blog/posts/<slug:slug>/delete/", blog.post_delete, name="post_delete"),
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
