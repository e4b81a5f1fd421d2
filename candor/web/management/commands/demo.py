from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from candor.privacy.crypto import verify_keyring_at_start_up
from candor.web.demo import load_demo_data, staff_secrets
from candor.web.server import gunicorn_argv


class Command(BaseCommand):
    help = "Set up the data folder with demo accounts, then run the site and a worker on 127.0.0.1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=8000,
            help="Where to listen on 127.0.0.1 (default 8000). Unless CANDOR_WEBSITE_URL is set, the links "
            "the site gives (emails, the API's url fields, the developer portal) use this port too.",
        )
        parser.add_argument("--no-serve", action="store_true", help="Prepare the data, then exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"]
        if not 1 <= port <= 65535:
            self.stderr.write("--port must be between 1 and 65535")
            raise SystemExit(2)
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        verify_keyring_at_start_up()
        engine = str(settings.DATABASES["default"]["ENGINE"]).rsplit(".", 1)[-1]
        self.stdout.write(f"Data folder: {settings.DATA_DIR} (database: {engine})")
        self.stdout.write("Demo accounts (username / password):")
        for account, created in load_demo_data():
            note = " (staff)" if account.is_staff else ""
            state = "created" if created else "already there"
            self.stdout.write(f"  {account.username:<8} {account.password}{note}  [{state}]")
        self.stdout.write("Staff console at /staff/: a code from an authenticator app with this TOTP secret:")
        for username, secret in staff_secrets():
            self.stdout.write(f"  {username:<8} {secret}")
        if not settings.EMAIL_URL:
            self.stdout.write(f"Emails the site sends are written to {settings.MAIL_DIR}")
        if options["no_serve"]:
            return
        self.serve(port)

    def serve(self, port: int) -> None:
        env = {**os.environ, "CANDOR_DATA_DIR": str(settings.DATA_DIR)}
        if not os.environ.get("CANDOR_WEBSITE_URL", "").strip():
            # Unset, the website is where this demo listens, not the default's port 8000; an address the
            # operator set (a proxy in front, say) is theirs to keep.
            env["CANDOR_WEBSITE_URL"] = f"http://127.0.0.1:{port}"
        worker = subprocess.Popen([sys.executable, "-m", "candor", "worker"], env=env)
        server = subprocess.Popen(gunicorn_argv(f"127.0.0.1:{port}", settings.WEB_WORKERS), env=env)  # noqa: S603
        url = f"http://127.0.0.1:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nCandor is running: open {url}  (Ctrl-C stops it)"))
        self.stdout.flush()

        def stop(*_: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            while server.poll() is None and worker.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for process in (server, worker):
                if process.poll() is None:
                    process.terminate()
            for process in (server, worker):
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        if server.returncode not in (0, -signal.SIGTERM, None) and server.returncode != 0:
            self.stderr.write(f"The web server stopped with code {server.returncode}.")
