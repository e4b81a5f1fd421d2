from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "candor.analytics"
    label = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from candor.analytics import buffer

        buffer.install_exit_flush()
