from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "candor.staff"
    label = "staff"
    verbose_name = "Staff access"

    def ready(self) -> None:
        # The access digest's composer registers with the outbox on import.
        from candor.staff import digest  # noqa: F401
