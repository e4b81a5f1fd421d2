from django.urls import path

from candor.accounts import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("accounts/verify/<str:public_id>/<str:token>/", views.verify, name="verify"),
    path("accounts/password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password-reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password-reset/done/",
        views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("settings/", views.settings_view, name="settings"),
    path("settings/verify/", views.resend_verification, name="resend_verification"),
    path("settings/email/", views.email_change, name="email_change"),
    path("settings/email/cancel/", views.email_change_cancel, name="email_change_cancel"),
    path("settings/password/", views.password_change, name="password_change"),
    path("settings/sessions/", views.sessions, name="sessions"),
    path("settings/delete/", views.delete_account, name="delete"),
    path("settings/sessions/end/", views.session_end, name="session_end"),
]
