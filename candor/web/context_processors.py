from django.conf import settings
from django.http import HttpRequest


def platform(request: HttpRequest) -> dict[str, str]:
    """The platform's identity (clause C22), for every page footer."""
    return {
        "platform_name": settings.PLATFORM_NAME,
        "website_url": settings.WEBSITE_URL,
        "contact_email": settings.CONTACT_EMAIL,
    }
