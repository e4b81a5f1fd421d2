from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "candor.hub"
    label = "hub"
    verbose_name = "Model hub"

    def ready(self) -> None:
        from candor.hub.actions import forget_files_of_accounts
        from candor.kernel import hooks

        def forget_files(gone: hooks.AccountsGone) -> None:
            forget_files_of_accounts(list(gone.account_ids))

        # Accounts about to be deleted take their stored files with them (the rows go by cascade).
        hooks.accounts_gone.connect(forget_files)
