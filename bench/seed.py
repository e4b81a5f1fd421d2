"""Fill a Candor database with many public models, quickly, for the benchmarks.

Run with the benchmark's environment (CANDOR_DATA_DIR or DATABASE_URL set):
    python bench/seed.py --models 100000 --owners 1000
Bypasses the actions on purpose (bulk inserts, encrypted as the models' fields do, then the public
projection rebuilt in batches): it measures reading, not creating.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "candor.settings")

import django

django.setup()

from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from candor.accounts.models import User, email_index, username_index
from candor.hub import projection
from candor.hub.choices import LIBRARIES, LICENSES, TASKS
from candor.hub.models import MLModel, name_index

WORDS = (
    "vision speech text small large fast tiny quantized distilled robust multilingual medical legal".split()
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--owners", type=int, default=1_000)
    parser.add_argument("--password", default="bench-password-not-secret-1")
    args = parser.parse_args()
    call_command("migrate", interactive=False, verbosity=0)
    rng = random.Random(42)
    started = time.monotonic()
    password = make_password(args.password)
    now = timezone.now()
    with transaction.atomic():
        created = User.objects.bulk_create(
            [
                User(
                    username=f"bench{i}",
                    email=f"bench{i}@bench.invalid",
                    email_index=email_index(f"bench{i}@bench.invalid"),
                    username_index=username_index(f"bench{i}"),
                    password=password,
                    email_verified=True,
                )
                for i in range(args.owners)
            ],
            batch_size=1000,
        )
        owners = [user.pk for user in created]
    batch = 5_000
    for start in range(0, args.models, batch):
        with transaction.atomic():
            rows = []
            for i in range(start, min(start + batch, args.models)):
                when = now - timedelta(minutes=i)
                rows.append(
                    MLModel(
                        owner_id=owners[i % len(owners)],
                        name=f"model-{i}",
                        title=f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} model {i}",
                        summary=f"A {rng.choice(WORDS)} {rng.choice(WORDS)} model for benchmarking.",
                        card="# Model\n\nBenchmark data.",
                        tags=[rng.choice(WORDS)],
                        license=rng.choice(LICENSES)[0],
                        library=rng.choice(LIBRARIES)[0],
                        task=rng.choice(TASKS)[0],
                        visibility="public",
                        created_at=when,
                        updated_at=when,
                        published_at=when,
                    )
                )
            for row in rows:  # bulk_create calls no save(): the blind index is computed here
                row.name_index = name_index(row.owner_id, row.name)
            rows.sort(key=lambda row: str(row.owner_id))  # each owner's values encrypted together
            MLModel.objects.bulk_create(rows, batch_size=1000)
    # The listings read the public projection, built from the encrypted models as after a restore.
    projection.rebuild_projection()
    print(f"seeded {args.models} models for {args.owners} owners in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
