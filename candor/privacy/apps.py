from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "candor.privacy"
    label = "privacy"
    verbose_name = "Privacy"

    def ready(self) -> None:
        from candor.privacy import checks  # noqa: F401 - registers the inventory check
