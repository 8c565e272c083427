"""Role × permission table for the CLI: every command declares the permission it exercises."""
from __future__ import annotations

import typer.main

from sesshu.auth.permissions import CLI_COMMANDS, OPERATOR_PERMISSIONS, PERMISSIONS, ROLES
from sesshu.cli import app


def _commands(command, prefix=()):
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield " ".join(prefix)
        return
    for name, sub in subcommands.items():
        yield from _commands(sub, prefix + (name,))


def test_every_cli_command_is_in_the_permission_table_and_nothing_else():
    commands = set(_commands(typer.main.get_command(app)))
    assert len(commands) > 20
    assert commands == set(CLI_COMMANDS), (
        f"missing: {sorted(commands - set(CLI_COMMANDS))}, stale: {sorted(set(CLI_COMMANDS) - commands)}")


def test_cli_permissions_are_known_and_the_operator_is_not_a_web_role():
    assert all(p == "" or p in PERMISSIONS for p in CLI_COMMANDS.values())
    assert "operator" not in ROLES  # no web login can carry the OS operator's rights
    assert "system.operate" in OPERATOR_PERMISSIONS
    assert not any("system.operate" in r["permissions"] for r in ROLES.values())
