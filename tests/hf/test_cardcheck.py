"""POST /api/validate-yaml, as the real huggingface_hub client calls it before a README.md is uploaded."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import requests
from pytest_django.live_server_helper import LiveServer

from tests.hf.conftest import e2e, run_client

# HfApi._validate_yaml is what upload_file, upload_folder and create_commit call for a README.md (it
# prints the answer's warnings and raises ValueError with its errors); ModelCard.validate is the public
# call, which raises ValueError with the answer's text.
CHECK = textwrap.dedent(
    """
    import pathlib, warnings
    from huggingface_hub import HfApi, ModelCard
    text = pathlib.Path("README.md").read_text()
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as seen:
        try:
            HfApi()._validate_yaml(text)
        except ValueError as error:
            print("REFUSED", error)
        else:
            print("ACCEPTED")
    for warning in seen:
        print("WARNING", warning.message)
    try:  # the card class reads the YAML itself first: a block that is not YAML fails before any call
        ModelCard(text).validate()
    except Exception as error:
        print("CARD REFUSED", type(error).__name__, error)
    else:
        print("CARD ACCEPTED")
    """
)


def check(site: LiveServer, tmp_path: Path, readme: str) -> str:
    (tmp_path / "README.md").write_text(readme)
    code = f"import os; os.chdir({str(tmp_path)!r})\n" + CHECK
    done = run_client(code, endpoint=site.url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout


@e2e
def test_the_client_accepts_a_good_card(site: LiveServer, tmp_path: Path) -> None:
    out = check(site, tmp_path, "---\nlicense: mit\npipeline_tag: text-generation\n---\n# Hi\n")
    assert out.startswith("ACCEPTED") and "WARNING" not in out and "CARD ACCEPTED" in out


@e2e
def test_the_client_refuses_an_unknown_licence_and_yaml_that_is_not_yaml(
    site: LiveServer, tmp_path: Path
) -> None:
    out = check(site, tmp_path, "---\nlicense: foo\n---\n# Hi\n")
    assert "REFUSED Invalid metadata in README.md.\n- Unknown licence id 'foo' in README.md." in out
    assert "CARD REFUSED" in out
    out = check(site, tmp_path, "---\nlicense: [mit\n---\n# Hi\n")
    assert "REFUSED" in out and "not valid YAML" in out
    out = check(site, tmp_path, "---\n!!python/object/apply:os.system ['true']\n---\n")
    assert "REFUSED" in out and "not valid YAML" in out


@e2e
def test_other_problems_and_a_missing_front_matter_are_warnings(site: LiveServer, tmp_path: Path) -> None:
    out = check(site, tmp_path, "---\nlicense: mit\nlanguage: [zz]\n---\n# Hi\n")
    assert out.startswith("ACCEPTED") and "Unknown language code 'zz'" in out
    out = check(site, tmp_path, "# Only text\n")
    assert out.startswith("ACCEPTED") and "empty or missing yaml metadata" in out


@e2e
def test_the_exact_path_answers_without_redirect_and_refuses_bad_bodies(site: LiveServer) -> None:
    url = f"{site.url}/api/validate-yaml"
    good = requests.post(url, json={"content": "---\nlicense: mit\n---\n", "repoType": "model"}, timeout=30)
    assert good.status_code == 200 and good.json() == {"errors": [], "warnings": []}
    slashed = requests.post(url + "/", json={"content": ""}, timeout=30, allow_redirects=False)
    assert slashed.status_code not in (301, 302, 307, 308)
    for body in (b"not json", json.dumps({"text": "x"}).encode(), json.dumps(["x"]).encode()):
        refused = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
        assert refused.status_code == 400 and "error" in refused.json()
    dataset = requests.post(url, json={"content": "", "repoType": "dataset"}, timeout=30)
    assert dataset.status_code == 400
    big = requests.post(url, data=b"x" * (2 << 20), timeout=60)
    assert big.status_code == 413
    assert requests.get(url, timeout=30).status_code == 405
