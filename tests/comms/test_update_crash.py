"""A product update survives its worker's death: a real `candor worker` sending to a few hundred
accounts through a real SMTP server (aiosmtpd), killed with SIGKILL part-way, then started again.
Counted at the SMTP server: nobody receives the update twice, and everyone else receives it (at most
the one email that was being handed over at the kill is marked interrupted instead of being sent
again)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.analytics.conftest import start_candor
from tests.conftest import run_candor
from tests.test_settings_and_cli import free_port
from tests.test_worker_crashes import kill_hard, shell, stop, wait_until

PEOPLE = 300

SETUP = f"""
from django.contrib.auth.hashers import make_password
from django.db import transaction
from candor.accounts.models import User, email_index, username_index
from candor.comms import actions
password = make_password("not-used-by-this-test-0")
# In one transaction, as bench/seed.py does: each row's data key is made before its account row is.
with transaction.atomic():
  User.objects.bulk_create([
    User(username=f"p{{i}}", email=f"p{{i}}@example.net", email_index=email_index(f"p{{i}}@example.net"),
         username_index=username_index(f"p{{i}}"), password=password, email_verified=True)
    for i in range({PEOPLE})
  ], batch_size=500)
writer = User.objects.create_user("writer", "writer@example.net", None, email_verified=True)
update = actions.save_update(None, subject="Crash-proof news", body="Hello.", acting_user=writer)
actions.start_sending(update, acting_user=writer)
print(User.objects.filter(email_verified=True).count())
"""

STATE = """
import json
from django.db.models import Count
from candor.comms.models import Email, Update
update = Update.objects.get()
def counts(field):
    grouped = Email.objects.values_list(field).order_by().annotate(n=Count("pk"))
    return dict(grouped.values_list(field, "n"))
rows, reasons = counts("status"), counts("reason")
print(json.dumps({"update": update.status, "rows": rows, "reasons": reasons}))
"""


class Sink:
    """An SMTP server's DATA handler that counts each recipient of each message it accepts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if b"Crash-proof news" in envelope.content:
            with self.lock:
                self.received.update(envelope.rcpt_tos)
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return sum(self.received.values())


def _state(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    return json.loads(shell(tmp_path, env, STATE))


def test_a_worker_killed_mid_update_sends_nobody_the_update_twice_and_everyone_else_gets_it(
    tmp_path: Path, scratch_database_url: str | None
) -> None:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    env = {
        "CANDOR_EMAIL_URL": f"smtp://127.0.0.1:{port}",
        # 20 a second: the run lasts long enough to be caught in the middle.
        "CANDOR_PRODUCT_EMAILS_PER_MINUTE": "1200",
    }
    if scratch_database_url:
        env["DATABASE_URL"] = scratch_database_url
    worker = None
    try:
        assert run_candor(["migrate", "-v0"], tmp_path, env).returncode == 0
        accounts = int(shell(tmp_path, env, SETUP))
        assert accounts == PEOPLE + 1
        worker = start_candor(["worker"], tmp_path, env, log=True)
        wait_until("a third of the update is sent", lambda: sink.count() >= PEOPLE // 3, 120, worker)
        kill_hard(worker)
        at_kill = sink.count()
        assert at_kill < accounts, "the whole update went out before the kill: nothing was tested"
        time.sleep(1)
        assert sink.count() == at_kill  # nothing more came from the dead worker
        assert _state(tmp_path, env)["update"] == "sending"

        worker = start_candor(["worker"], tmp_path, env, log=True)
        wait_until("the update is sent", lambda: _state(tmp_path, env)["update"] == "sent", 180, worker)
        time.sleep(2)  # a second copy, were one on its way, would have arrived by now
    finally:
        if worker is not None:
            stop(worker)
        controller.stop()
    assert sink.count() > at_kill  # the restarted worker carried on
    twice = {address: n for address, n in sink.received.items() if n > 1}
    assert twice == {}, f"received the update more than once: {len(twice)} people"
    final = _state(tmp_path, env)
    assert sum(final["rows"].values()) == accounts  # one row per person
    interrupted = final["reasons"].get("interrupted", 0)
    assert interrupted <= 1
    assert final["rows"].get("sent", 0) + interrupted == accounts
    # Everyone but (at most) the one in flight at the kill received it; that one may have too.
    assert accounts - interrupted <= len(sink.received) <= accounts
    log = (tmp_path / "candor.out").read_text()
    assert "@example.net" not in log  # the worker logs ids, never an address
