"""The command table and the argument types, without running a command."""

from __future__ import annotations

import argparse

import pytest
from candor_client import COMMANDS
from candor_client.args import ModelRef, day_count, model_ref, positive_limit
from candor_client.commands import build_parser
from candor_client.errors import exit_codes_help


def subcommands(parser: argparse.ArgumentParser) -> set[str]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(action.choices)


def test_the_table_has_every_client_word_and_no_other() -> None:
    # COMMANDS is what `candor` hands to the client instead of the server: both lists must agree.
    assert subcommands(build_parser()) == COMMANDS


def test_the_help_explains_the_exit_codes() -> None:
    assert exit_codes_help() in build_parser().format_help()
    assert "5 too many requests or server busy" in " ".join(exit_codes_help().split())


def test_argument_types() -> None:
    assert model_ref("alice/tiny") == ModelRef("alice", "tiny") and str(ModelRef("a", "b")) == "a/b"
    assert positive_limit("100") == 100 and day_count("365") == 365


@pytest.mark.parametrize("value", ["alice", "/tiny", "alice/", "a/b/c"])
def test_bad_model_refs(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected owner/name"):
        model_ref(value)


@pytest.mark.parametrize("value", ["0", "101", "ten", "1.5", ""])
def test_bad_limits(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="from 1 to 100"):
        positive_limit(value)
