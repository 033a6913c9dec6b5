"""``hub clients``: create, list and revoke the OAuth2 clients of the hub."""

from __future__ import annotations

import json

import click

from hub.commands.common import in_unit_of_work
from hub.config import Settings
from hub.security import validate_bound_client_scope
from hub.store.client_repo import validate_organization


def _read_jwks(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}",
                                 param_hint="--jwks") from None
    except ValueError as exc:
        raise click.BadParameter(f"{path} is not JSON: {exc}", param_hint="--jwks") from None


@click.group("clients")
def command() -> None:
    """OAuth2 clients: partners and internal systems calling the hub."""


@command.command("create")
@click.argument("name")
@click.option("--scope", required=True,
              help='Allowed SMART system scopes, e.g. "system/Case.cruds system/*.read".')
@click.option("--organization", default=None,
              help="Bind the client to a partner, e.g. Organization/st-marys.")
@click.option("--jwks", "jwks_file", type=click.Path(dir_okay=False), default=None,
              help="JWKS file of the client's public keys (private_key_jwt); "
                   "without it the client gets a secret.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def create(settings: Settings, name: str, scope: str, organization: str | None,
           jwks_file: str | None, as_json: bool) -> None:
    """Register client NAME and print its id (and, once, its secret)."""
    jwks = _read_jwks(jwks_file) if jwks_file else None

    def work(uow):
        try:
            # the organization's form first, then what a bound client may hold
            bound = validate_organization(organization) is not None
            bound_scope = validate_bound_client_scope(scope) if bound else scope
            return uow.clients.create(name, bound_scope, organization=organization,
                                      jwks=jwks)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None

    client, secret = in_unit_of_work(settings, work)
    if as_json:
        click.echo(json.dumps({"client_id": client.client_id, "client_secret": secret}))
        return
    click.echo(f"client_id: {client.client_id}")
    if secret is not None:
        click.echo(f"client_secret: {secret}")
        click.echo("Store the secret now: it is not shown again.", err=True)
    else:
        click.echo("authentication: private_key_jwt (RS384/ES384 with the registered keys)")


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def list_clients(settings: Settings, as_json: bool) -> None:
    """List the clients (secrets are never shown)."""
    clients = in_unit_of_work(settings, lambda uow: uow.clients.list())
    if as_json:
        click.echo(json.dumps([c.public() for c in clients], indent=2))
        return
    if not clients:
        click.echo("no clients")
        return
    for c in clients:
        state = "revoked " + c.revoked_at.isoformat(timespec="seconds") if c.revoked_at \
            else "active"
        click.echo(f"{c.client_id}  {c.name}  [{c.auth_method}, {state}]  "
                   f"scope={c.scope!r}  organization={c.organization or '-'}")


@command.command("revoke")
@click.argument("client_id")
@click.pass_obj
def revoke(settings: Settings, client_id: str) -> None:
    """Revoke CLIENT_ID: it gets no new tokens and its current tokens stop working."""
    client = in_unit_of_work(settings, lambda uow: uow.clients.revoke(client_id))
    if client is None:
        raise click.ClickException(f"no client {client_id!r}")
    click.echo(f"client {client_id} revoked")
