import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "candor.settings")
application = get_wsgi_application()

from candor.kernel.locks import limit_lock_wait  # noqa: E402 - needs the settings loaded above

# A web request waits for the database's write lock only briefly, then answers 503 (candor/kernel/locks.py).
limit_lock_wait()
