from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "candor.accounts"
    label = "accounts"
    verbose_name = "Accounts"
