from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "candor.core"
    label = "core"
    verbose_name = "Candor core"
