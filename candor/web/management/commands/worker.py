from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils.crypto import get_random_string

from candor.analytics import tasks as analytics_tasks
from candor.comms import tasks as comms_tasks
from candor.core import taskqueue
from candor.core.dbworker import Worker
from candor.core.taskqueue import logger
from candor.lifecycle import tasks as privacy_tasks
from candor.lifecycle.retention import recover_leftovers
from candor.privacy.crypto import verify_keyring_at_start_up
from candor.staff import tasks as staff_tasks

# A loop that ran this long before it stopped was healthy: the next restart waits the shortest time.
HEALTHY_SECONDS = 60
# The exit code of a configuration error: starting again would fail the same way.
CONFIGURATION_ERROR = 2


class Command(BaseCommand):
    help = "Run the background task worker: the database queue by default, RQ when Redis is configured."
    # The worker must start while the database is locked or away, and wait for it. Django's checks would
    # probe it first (on SQLite a probe that meets a locked file reports "no JSON support", E180) and
    # stop the worker; `serve`, `migrate` and `check` run them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--burst", action="store_true", help="Run the queued tasks, then exit.")
        # The supervised loop itself, as the supervisor starts it.
        parser.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        # A wrong or missing key stops the worker; a database that is locked or away is waited for.
        taskqueue.persist(verify_keyring_at_start_up, "worker: checking the keys")
        if options["burst"]:
            self.loop(burst=True, supervised=False)
        elif options["loop"]:
            self.loop(burst=False, supervised=True)
        else:
            sys.exit(self.supervise())

    def supervise(self) -> int:
        """Run the worker loop in a child process, and start it again whenever it stops by itself.

        The loop has its own retries for the database and the broker; this is for what they cannot
        catch: a loop that gave up (RQ's ends on several Redis errors), or a process killed outright.
        """
        stopping = False
        child: subprocess.Popen[bytes] | None = None

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)  # a second one forces it, as for the loop itself

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        backoff = taskqueue.Backoff(first=1.0)
        while True:
            started = time.monotonic()
            child = subprocess.Popen([sys.executable, "-m", "candor", "worker", "--loop"])
            code = child.wait()
            if stopping:
                return 0 if code in (0, -signal.SIGTERM) else code
            if code == CONFIGURATION_ERROR:
                logger.error("worker: the loop refused to start (exit code %d); not starting it again", code)
                return code
            if time.monotonic() - started > HEALTHY_SECONDS:
                backoff.reset()
            wait = backoff.next()
            logger.warning("worker: the loop stopped (exit code %s); starting it again in %.1f s", code, wait)
            deadline = time.monotonic() + wait
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.1)
            if stopping:
                return 0

    def loop(self, *, burst: bool, supervised: bool) -> None:
        _recover_leftovers()
        if not burst:
            # Recurring chains: the daily retention sweep, the analytics rollup (Redis's counters
            # into the database, ended days' salts destroyed), the access log's signed checkpoints,
            # and the outbox (product updates and retries). Started again after any restart.
            taskqueue.persist(privacy_tasks.ensure_scheduled, "worker: starting the daily sweep")
            taskqueue.persist(analytics_tasks.ensure_scheduled, "worker: starting the analytics rollup")
            taskqueue.persist(staff_tasks.ensure_digest_scheduled, "worker: starting the access digest")
            taskqueue.persist(
                staff_tasks.ensure_checkpoints_scheduled, "worker: starting the access log checkpoints"
            )
            taskqueue.persist(comms_tasks.ensure_pump_scheduled, "worker: starting the outbox")
        if taskqueue.backend_kind() == "rq":
            self.rq_loop(burst=burst, supervised=supervised)
        else:
            self.database_loop(burst=burst, supervised=supervised)

    def rq_loop(self, *, burst: bool, supervised: bool) -> None:
        worker_args = [
            "default",
            "--with-scheduler",
            "--job-class",
            "django_tasks_rq.backend.Job",
            "--worker-class",
            "candor.core.rqworker.Worker",
            # Its registration expires a minute after its last heartbeat (seven by default), and it
            # waits at most 45 s for a job before its maintenance runs again.
            "--worker-ttl",
            "60",
        ]
        if burst:
            worker_args.append("--burst")
        if not supervised:
            call_command("rqworker", *worker_args)
            return

        def stop() -> None:
            os.kill(os.getpid(), signal.SIGTERM)

        with taskqueue.watching_parent(stop):
            call_command("rqworker", *worker_args)

    def database_loop(self, *, burst: bool, supervised: bool) -> None:
        worker = Worker(
            queue_names=["default"],
            interval=1.0,
            batch=burst,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=get_random_string(32),
            excluded_queue_names=[],
            supervised=supervised,
        )
        worker.configure_signals()
        worker.run()


def _recover_leftovers() -> None:
    """Before any task runs: what a crashed worker left in the staging area (a half-built export's sealed
    pieces, a partial backup) is removed. Files other live processes are writing are locked and kept; a
    task the dead worker left running is queued again by the lease, and rebuilds what it needs."""
    recover_leftovers()
