from django.urls import path
from django.views.decorators.http import require_safe

from candor.comms.feeds import PostFeed
from candor.comms.views import blog, emails, notices, unsubscribe

app_name = "comms"

urlpatterns = [
    path("settings/emails/", emails.emails, name="emails"),
    path("notices/<str:public_id>/dismiss/", notices.dismiss, name="dismiss_notice"),
    path("blog/", blog.blog, name="blog"),
    path("blog/feed.atom", require_safe(PostFeed()), name="blog_feed"),
    path("blog/<slug:slug>/", blog.post, name="post"),
    path("-/unsubscribe/<str:token>/", unsubscribe.unsubscribe_page, name="unsubscribe"),
]
