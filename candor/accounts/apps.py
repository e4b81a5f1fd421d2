from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "candor.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # The composers of the account emails register with the outbox on import.
        from candor.accounts import emails  # noqa: F401
