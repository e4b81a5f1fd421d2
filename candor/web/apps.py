from django.apps import AppConfig


class WebConfig(AppConfig):
    """The site as a whole: home page, error pages, middleware and the serve, worker and demo commands."""

    name = "candor.web"
    label = "web"
    verbose_name = "Website"
