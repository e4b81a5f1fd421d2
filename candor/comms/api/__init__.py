"""The API v1 routers of communications (mounted by candor.api.urls): a person's emails, preferences
and notices."""
