"""API routes of analytics. Being written."""

from ninja import Router

router = Router(tags=["analytics"])
