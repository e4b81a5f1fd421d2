from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "candor.hub"
    label = "hub"
    verbose_name = "Model hub"

    def ready(self) -> None:
        from candor.hub import actions, blobs, models
        from candor.kernel import hooks

        models.unused_blobs.connect(blobs.purge_for_retention)
        # Accounts about to be deleted take their stored files with them (the rows go by cascade).
        hooks.accounts_gone.connect(actions.forget_files_of_gone_accounts)
