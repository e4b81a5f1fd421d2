from django.apps import AppConfig


class DevelopersConfig(AppConfig):
    name = "candor.developers"
    label = "developers"
    verbose_name = "Developer portal"
