"""The protocol's addresses, each exactly as the client writes it: no trailing slash is added and
nothing here redirects (Django's slash redirect would turn the client's POSTs into GETs).

Each module of the router holds its own ``urlpatterns``; they are put together here, before the site's
pages (``candor/urls.py``), so ``/api/models/…`` and ``/<owner>/<name>/resolve/…`` reach the protocol.
"""

from __future__ import annotations

from candor.hub.api.hf import cardcheck, lfs, read, write, xet

urlpatterns = [
    *read.urlpatterns,
    *write.urlpatterns,
    *lfs.urlpatterns,
    *xet.urlpatterns,
    *cardcheck.urlpatterns,
]
