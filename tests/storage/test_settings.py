"""CANDOR_S3_URL: what it is read as, and the mistakes it is refused for (by name, never echoed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from candor.env import Env
from tests.conftest import run_candor


def parsed(value: str) -> object:
    return Env({"CANDOR_S3_URL": value}).object_store("CANDOR_S3_URL")


def test_a_full_url_is_read_into_the_storage_s_options() -> None:
    store = Env(
        {
            "CANDOR_S3_URL": "https://AKIA%2Fkey:se%2Fcr%2Bet%3A@s3.example.org:9000/models?region=eu-west-3"
            "&prefix=site/one/&connect_timeout=2.5&read_timeout=40&attempts=4&multipart_mb=128"
        }
    ).object_store("CANDOR_S3_URL")
    assert store is not None
    assert (store.endpoint_url, store.bucket, store.region, store.prefix) == (
        "https://s3.example.org:9000",
        "models",
        "eu-west-3",
        "site/one",
    )
    assert (store.access_key, store.secret_key) == ("AKIA/key", "se/cr+et:")  # percent-decoded
    assert (store.connect_timeout, store.read_timeout, store.attempts) == (2.5, 40.0, 4)
    assert "se/cr+et" not in repr(store) and "secret" not in repr(store).lower()
    options = store.storage()["OPTIONS"]
    assert store.storage()["BACKEND"] == "storages.backends.s3.S3Storage"
    assert options["use_ssl"] is True and options["location"] == "site/one"
    assert options["querystring_auth"] is False and options["default_acl"] is None
    assert options["file_overwrite"] is True and options["addressing_style"] == "path"
    assert options["transfer_config"].multipart_threshold == 128 * 1024 * 1024
    config = options["client_config"]
    assert (config.connect_timeout, config.read_timeout) == (2.5, 40.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}


def test_defaults_and_plain_http() -> None:
    store = Env({"CANDOR_S3_URL": "http://k:s@127.0.0.1:8333/bucket"}).object_store("CANDOR_S3_URL")
    assert store is not None
    assert (store.endpoint_url, store.region, store.prefix, store.attempts) == (
        "http://127.0.0.1:8333",
        "us-east-1",
        "",
        3,
    )
    assert store.storage()["OPTIONS"]["use_ssl"] is False
    assert store.storage()["OPTIONS"]["transfer_config"].multipart_threshold == 64 * 1024 * 1024
    assert Env({}).object_store("CANDOR_S3_URL") is None


@pytest.mark.parametrize(
    "value",
    [
        "s3://k:hunter2@host/bucket",
        "http://host/bucket",  # no credentials
        "http://k@host/bucket",
        "http://k:hunter2@/bucket",
        "http://k:hunter2@host",  # no bucket
        "http://k:hunter2@host/two/buckets",
        "http://k:hunter2@host/Upper_Case",
        "http://k:hunter2@host:99999/bucket",
        "http://k:hunter2@host/bucket?prefix=../up",
        "http://k:hunter2@host/bucket?region=us-east-1&region=eu-west-1",
        "http://k:hunter2@host/bucket?attempts=0",
        "http://k:hunter2@host/bucket?read_timeout=soon",
        "http://k:hunter2@host/bucket?multipart_mb=1",
        "http://k:hunter2@host/bucket?region=Mars%20One",
        "http://k:hunter2@host/bucket?novalue",
    ],
)
def test_a_malformed_url_is_refused_by_name_without_its_secret(value: str) -> None:
    with pytest.raises(ImproperlyConfigured) as refused:
        parsed(value)
    assert "CANDOR_S3_URL" in str(refused.value) and "hunter2" not in str(refused.value)


def test_the_server_with_a_store_url_uses_the_store_and_refuses_a_bad_one(tmp_path: Path) -> None:
    script = (
        "from django.core.files.storage import storages; s = storages['default']; "
        "print(type(s).__name__, s.bucket_name, s.location)"
    )
    url = "http://k:v@127.0.0.1:1/b-1?prefix=p"
    good = run_candor(["shell", "-c", script], tmp_path, {"CANDOR_S3_URL": url})
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip().splitlines()[-1].split() == ["S3Storage", "b-1", "p"]
    bad = run_candor(["check"], tmp_path, {"CANDOR_S3_URL": "http://k:hunter2@127.0.0.1:1/"})
    assert bad.returncode == 2 and "CANDOR_S3_URL" in bad.stderr and "hunter2" not in bad.stderr
