from django.apps import AppConfig


class CommsConfig(AppConfig):
    name = "candor.comms"
    label = "comms"
    verbose_name = "Communications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The composers of the emails this domain writes itself register on import.
        from candor.comms import emails  # noqa: F401
