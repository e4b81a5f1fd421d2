"""Part of the Hugging Face protocol router (see __init__)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
