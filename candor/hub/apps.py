from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "candor.hub"
    label = "hub"
    verbose_name = "Model hub"
