"""The push/pull sync plan: plain listings in, a plan out; no network, no disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from candor_client.errors import ClientError
from candor_client.syncplan import (
    FileState,
    plan_pull,
    plan_push,
    pull_listing,
    push_listing,
    safe_parts,
    safe_target,
    worth_hashing,
)
from hypothesis import given
from hypothesis import strategies as st


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


A, B, C = sha("a"), sha("b"), sha("c")


# --- push -----------------------------------------------------------------------------------------


def test_push_uploads_new_and_changed_files_and_skips_the_same_bytes() -> None:
    local = [FileState("a.txt", 1, A), FileState("b.txt", 1, B), FileState("new.txt", 1, C)]
    remote = [FileState("a.txt", 1, A), FileState("b.txt", 1, A)]
    plan = plan_push(local, remote, delete=False)
    assert [f.path for f in plan.upload] == ["b.txt", "new.txt"]
    assert [f.path for f in plan.unchanged] == ["a.txt"]
    assert plan.delete == () and plan.kept == ()


def test_push_keeps_the_servers_extra_files_unless_told_to_delete_them() -> None:
    local = [FileState("a.txt", 1, A)]
    remote = [FileState("z.txt", 1, B), FileState("a.txt", 1, A), FileState("m/y.txt", 1, C)]
    kept = plan_push(local, remote, delete=False)
    assert kept.kept == ("m/y.txt", "z.txt") and kept.delete == ()
    deleted = plan_push(local, remote, delete=True)
    assert deleted.delete == ("m/y.txt", "z.txt") and deleted.kept == ()
    assert deleted.upload == () and [f.path for f in deleted.unchanged] == ["a.txt"]


def test_push_sends_again_a_file_the_server_gives_no_hash_for() -> None:
    plan = plan_push([FileState("a.txt", 1, A)], [FileState("a.txt", 1, None)], delete=False)
    assert [f.path for f in plan.upload] == ["a.txt"]


def test_push_compares_by_hash_not_by_size() -> None:
    # Same size, other bytes: sent. Another size reported for the same bytes: the hash decides.
    assert plan_push([FileState("a", 5, A)], [FileState("a", 5, B)], delete=False).upload
    assert not plan_push([FileState("a", 5, A)], [FileState("a", 9, A)], delete=False).upload


def test_push_listing_takes_odd_entries_as_unknown_hashes() -> None:
    listed = push_listing([{"path": "a", "size": 3, "sha256": A}, {"path": "b", "sha256": 7, "size": True}])
    assert listed == [FileState("a", 3, A), FileState("b", 0, None)]


paths = st.text(alphabet="abc/", min_size=1, max_size=6)
hashes = st.sampled_from([A, B, C])
listings = st.dictionaries(paths, hashes, max_size=8)


@given(listings, listings, st.booleans())
def test_push_plan_accounts_for_every_file_once(
    local: dict[str, str], remote: dict[str, str], delete: bool
) -> None:
    ours = [FileState(p, 1, h) for p, h in sorted(local.items())]
    plan = plan_push(ours, [FileState(p, 1, h) for p, h in remote.items()], delete=delete)
    # Every local file is uploaded or skipped, exactly once, in the listing's order.
    assert sorted([*plan.upload, *plan.unchanged], key=lambda f: f.path) == ours
    assert [f.path for f in plan.upload] == [f.path for f in ours if f in plan.upload]
    # Skipped means the server has these very bytes; uploaded means it has not.
    assert all(remote.get(f.path) == f.sha256 for f in plan.unchanged)
    assert all(remote.get(f.path) != f.sha256 for f in plan.upload)
    # The server's files the folder lacks are deleted or kept, as asked, and nothing else is touched.
    extra = sorted(set(remote) - set(local))
    assert (plan.delete, plan.kept) == ((tuple(extra), ()) if delete else ((), tuple(extra)))


# --- pull -----------------------------------------------------------------------------------------


def test_pull_downloads_what_the_folder_lacks_or_holds_otherwise() -> None:
    remote = [FileState("a", 1, A), FileState("b", 1, B), FileState("c", 1, C), FileState("d", 2, A)]
    local = {
        "a": FileState("a", 1, A),  # the same bytes
        "b": FileState("b", 1, C),  # other bytes of the same size
        "d": FileState("d", 5, None),  # another size: not hashed
    }
    plan = plan_pull(remote, local)
    assert [f.path for f in plan.download] == ["b", "c", "d"]
    assert [f.path for f in plan.unchanged] == ["a"]


def test_pull_never_trusts_an_unhashed_local_file() -> None:
    plan = plan_pull([FileState("a", 1, A)], {"a": FileState("a", 1, None)})
    assert [f.path for f in plan.download] == ["a"]


def test_only_a_local_file_of_the_servers_size_is_worth_hashing() -> None:
    assert worth_hashing(FileState("a", 10, A), 10)
    assert not worth_hashing(FileState("a", 10, A), 11)


@given(st.dictionaries(paths, st.tuples(st.integers(0, 3), hashes), max_size=8), st.data())
def test_pull_plan_downloads_exactly_the_files_that_differ(
    remote: dict[str, tuple[int, str]], data: st.DataObject
) -> None:
    theirs = [FileState(p, size, h) for p, (size, h) in remote.items()]
    local = data.draw(
        st.dictionaries(
            st.sampled_from(sorted(remote)) if remote else st.nothing(),
            st.tuples(st.integers(0, 3), st.none() | hashes),
        )
    )
    mine = {p: FileState(p, size, h) for p, (size, h) in local.items()}
    plan = plan_pull(theirs, mine)
    assert [*plan.download, *plan.unchanged] == [f for f in theirs if f in plan.download] + [
        f for f in theirs if f in plan.unchanged
    ]
    assert len(plan.download) + len(plan.unchanged) == len(theirs)
    for item in plan.unchanged:
        assert (local[item.path][0], local[item.path][1]) == (item.size, item.sha256)
    for item in plan.download:
        assert item.path not in local or local[item.path] != (item.size, item.sha256)


# --- the server's listing and its paths -----------------------------------------------------------


def test_a_valid_listing_becomes_file_states_in_order() -> None:
    entries: list[dict[str, object]] = [
        {"path": "w/b.bin", "size": 2, "sha256": B},
        {"path": "a", "size": 0, "sha256": A},
    ]
    listed = pull_listing(entries)
    assert listed == [FileState("w/b.bin", 2, B), FileState("a", 0, A)]


@pytest.mark.parametrize(
    "entry",
    [
        {"path": "a", "size": -1, "sha256": A},
        {"path": "a", "size": "1", "sha256": A},
        {"path": "a", "size": 1},
        {"path": "a", "size": 1, "sha256": A.upper()},
        {"path": "a", "size": 1, "sha256": A[:-1]},
    ],
)
def test_a_listing_without_valid_sizes_or_hashes_is_refused(entry: dict[str, object]) -> None:
    with pytest.raises(ClientError, match="without a valid size or SHA-256"):
        pull_listing([{"path": "ok", "size": 1, "sha256": A}, entry])


def test_one_unsafe_path_refuses_the_whole_listing() -> None:
    with pytest.raises(ClientError, match=r"unsafe file path '\.\./x'"):
        pull_listing([{"path": "ok", "size": 1, "sha256": A}, {"path": "../x", "size": 1, "sha256": A}])


@pytest.mark.parametrize(
    "path",
    ["..", "a/../b", "/abs", "a//b", "a/", "./a", "C:x", "c:/x", "a\\b", "a\tb", "\x1b[0m", "", None, 1],
)
def test_unsafe_paths(path: object) -> None:
    with pytest.raises(ClientError, match="unsafe file path") as error:
        safe_parts(path)
    assert "\x1b" not in str(error.value) and "\t" not in str(error.value), "shown, not printed raw"


@given(st.lists(st.text(alphabet="ab.-_é ", min_size=1, max_size=5), min_size=1, max_size=4))
def test_a_safe_path_always_lands_inside_the_folder(parts: list[str]) -> None:
    path = "/".join(parts)
    root = Path("/download/here")
    try:
        target = safe_target(root, path)
    except ClientError:
        assert any(part in (".", "..") for part in parts)
        return
    assert target.is_relative_to(root) and target.relative_to(root).as_posix() == path
