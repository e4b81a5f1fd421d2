from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "candor.staff"
    label = "staff"
    verbose_name = "Staff access"
