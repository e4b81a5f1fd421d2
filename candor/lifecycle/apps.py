from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    """The orchestrators of personal data's life: export, erasure, retention, backup and restore."""

    name = "candor.lifecycle"
    label = "lifecycle"
    verbose_name = "Data lifecycle"
