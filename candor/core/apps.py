from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "candor.core"
    label = "core"
    verbose_name = "Candor core"

    def ready(self) -> None:
        from candor.core import checks  # noqa: F401 - registers the deployment checks
