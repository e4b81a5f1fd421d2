from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "candor.core"
    label = "core"
    verbose_name = "Candor core"

    def ready(self) -> None:
        from candor.core import checks, counters, models  # noqa: F401 - checks registers the deployment checks

        models.expired_counters.connect(counters.purge_for_retention)
