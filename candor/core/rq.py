"""The RQ worker of ``candor worker`` when Redis is configured."""

from __future__ import annotations

from typing import Any

from rq import Worker


class QuietWorker(Worker):
    """An RQ worker that never logs a job's description.

    RQ's description is the call with its arguments (``send_account_email('export-ready', '<account
    id>')``), written to the log as each job starts and ends; a log outlives the account it names. Its
    own switch, ``log_job_description``, is a constructor argument that django-rq does not pass through.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["log_job_description"] = False
        super().__init__(*args, **kwargs)
