"""``hub users``: the people who sign in to the console (create, list, disable)."""

from __future__ import annotations

import json
import sys

import click

from hub.commands.common import in_unit_of_work
from hub.config import Settings
from hub.store.user_repo import ROLES, UserRepository


@click.group("users")
def command() -> None:
    """Console users: case managers, supervisors, operators and admins."""


@command.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may do.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@click.pass_obj
def create(settings: Settings, name: str, role: str, password_stdin: bool) -> None:
    """Create user NAME with ROLE; the password is read from standard input."""
    if not password_stdin:
        raise click.UsageError("give the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")

    def work(uow):
        try:
            return UserRepository(uow.session).create(name, role, password)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None

    user = in_unit_of_work(settings, work)
    click.echo(f"user {user.name} created ({user.role})")


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_users(settings: Settings, as_json: bool) -> None:
    """List the users (password hashes are never shown)."""
    users = in_unit_of_work(settings, lambda uow: UserRepository(uow.session).list(),
                            commit=False)
    if as_json:
        click.echo(json.dumps([u.public() for u in users], indent=2))
        return
    if not users:
        click.echo("no users")
        return
    for u in users:
        state = ("disabled " + u.disabled_at.isoformat(timespec="seconds")) if u.disabled_at \
            else "active"
        click.echo(f"{u.name}  {u.role}  [{u.provider}, {state}]")


@command.command("disable")
@click.argument("name")
@click.pass_obj
def disable(settings: Settings, name: str) -> None:
    """Disable user NAME: they cannot sign in, and their open sessions end."""
    user = in_unit_of_work(settings, lambda uow: UserRepository(uow.session).disable(name))
    if user is None:
        raise click.ClickException(f"no user {name!r}")
    click.echo(f"user {name} disabled")
