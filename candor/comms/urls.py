from django.urls import path

from candor.comms.views import blog, emails, notices, unsubscribe

app_name = "comms"

urlpatterns = [
    path("settings/emails/", emails.emails, name="emails"),
    path("-/unsubscribe/<str:token>/", unsubscribe.placeholder, name="unsubscribe"),
    path("notices/<str:public_id>/dismiss/", notices.placeholder, name="dismiss_notice"),
    path("blog/", blog.placeholder, name="blog"),
    path("blog/feed.atom", blog.placeholder, name="blog_feed"),
    path("blog/<slug:slug>/", blog.placeholder, name="post"),
]
