"""``hub partners``: list, add, remove and test the partners of HUB_PARTNERS_FILE."""

from __future__ import annotations

import json
import time

import click
import requests

from hub.adapters.errors import PartnerError
from hub.commands.common import settings_of
from hub.sync.partners import (
    AUTH_TYPES,
    DEFAULT_POLL_SECONDS,
    KINDS,
    PROTOCOLS,
    SMART_ALGS,
    PartnerFileError,
    PartnerSchema,
    load_partners,
    save_partners,
)
from hub.sync.registry import build_adapter, build_auth


def _file(ctx: click.Context, path: str | None) -> str:
    path = path or settings_of(ctx).partners_file
    if not path:
        raise click.UsageError("no partners file: set HUB_PARTNERS_FILE or pass --file")
    return path


def _load(path: str):
    try:
        return load_partners(path)
    except PartnerFileError as exc:
        if not exc.errors:
            raise click.ClickException(str(exc)) from None
        lines = "\n".join(f"  {field}: {' '.join(msgs)}" for field, msgs in exc.errors.items())
        raise click.ClickException(f"{path} is invalid:\n{lines}") from None


file_option = click.option("--file", "path", default=None, metavar="PATH",
                           help="Partners file (default HUB_PARTNERS_FILE).")


@click.group("partners")
def command() -> None:
    """Partners (hospitals, insurers, agencies) as configuration."""


@command.command("list")
@file_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_partners(ctx: click.Context, path: str | None, as_json: bool) -> None:
    """List the configured partners."""
    partners = _load(_file(ctx, path))
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in partners.values()], indent=2))
        return
    if not partners:
        click.echo("no partners")
    for p in partners.values():
        receives = ",".join(p.receives) or "-"
        click.echo(f"{p.id:<20} {p.kind:<9} {p.protocol:<12} {p.auth.type:<14} "
                   f"{p.base_url}  receives={receives} poll={p.poll_seconds}s")


@command.command("add")
@file_option
@click.option("--id", "partner_id", required=True)
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option("--protocol", type=click.Choice(PROTOCOLS), default="fhir", show_default=True)
@click.option("--base-url", required=True)
@click.option("--organization", default=None, help="Organization/{id} of the partner.")
@click.option("--receives", multiple=True, help="Resource type it receives (repeatable, or "
              "comma-separated).")
@click.option("--poll-seconds", type=int, default=DEFAULT_POLL_SECONDS, show_default=True)
@click.option("--connect-timeout", type=float, default=5.0, show_default=True)
@click.option("--read-timeout", type=float, default=30.0, show_default=True)
@click.option("--auth", "auth_type", type=click.Choice(AUTH_TYPES), default="none",
              show_default=True)
@click.option("--token-url", default=None)
@click.option("--client-id", default=None)
@click.option("--client-secret-env", default=None,
              help="Name of the environment variable holding the client secret.")
@click.option("--private-key-file", default=None)
@click.option("--kid", default=None)
@click.option("--alg", type=click.Choice(SMART_ALGS), default=None)
@click.option("--scope", default=None)
@click.option("--header", default=None, help="API key header name.")
@click.option("--key-env", default=None,
              help="Name of the environment variable holding the API key.")
@click.option("--replace", is_flag=True, help="Replace a partner with the same id.")
@click.pass_context
def add_partner(ctx: click.Context, path: str | None, partner_id: str, replace: bool,
                receives: tuple[str, ...], connect_timeout: float, read_timeout: float,
                auth_type: str, **values) -> None:
    """Add a partner to the partners file (validated; secrets by variable name only)."""
    path = _file(ctx, path)
    partners = _load(path)
    if partner_id in partners and not replace:
        raise click.ClickException(f"partner {partner_id} exists (use --replace)")
    auth_keys = ("token_url", "client_id", "client_secret_env", "private_key_file", "kid",
                 "alg", "scope", "header", "key_env")
    auth = {"type": auth_type} | {k: values.pop(k) for k in auth_keys if values.get(k)}
    for k in auth_keys:
        values.pop(k, None)
    entry = {"id": partner_id, **{k: v for k, v in values.items() if v is not None},
             "auth": auth, "receives": [t.strip() for r in receives for t in r.split(",")
                                        if t.strip()],
             "timeouts": {"connect": connect_timeout, "read": read_timeout}}
    try:
        partner = PartnerSchema().load(entry)
    except Exception as exc:  # marshmallow ValidationError: name the fields
        messages = getattr(exc, "messages", None)
        if messages is None:
            raise
        detail = "; ".join(f"{k}: {v}" for k, v in messages.items())
        raise click.ClickException(f"invalid partner: {detail}") from None
    partners[partner.id] = partner
    save_partners(path, partners)
    click.echo(f"partner {partner.id} saved to {path}")


@command.command("remove")
@file_option
@click.argument("partner_id")
@click.pass_context
def remove_partner(ctx: click.Context, path: str | None, partner_id: str) -> None:
    """Remove a partner from the partners file (its pending deliveries stay in the outbox
    and are dead-lettered as 'unknown partner' after their attempts)."""
    path = _file(ctx, path)
    partners = _load(path)
    if partners.pop(partner_id, None) is None:
        raise click.ClickException(f"no partner {partner_id}")
    save_partners(path, partners)
    click.echo(f"partner {partner_id} removed from {path}")


@command.command("test")
@file_option
@click.argument("partner_id")
@click.pass_context
def test_partner(ctx: click.Context, path: str | None, partner_id: str) -> None:
    """Check a partner: GET [base]/metadata (FHIR) or its health endpoint, and auth."""
    partners = _load(_file(ctx, path))
    partner = partners.get(partner_id)
    if partner is None:
        raise click.ClickException(f"no partner {partner_id}")
    started = time.monotonic()
    try:
        if partner.protocol == "fhir":
            adapter = build_adapter(partner)
            try:
                if partner.health_path:
                    adapter.get(partner.health_path)
                    summary = f"health {partner.health_path} ok"
                else:
                    cap = adapter.capabilities()
                    software = (cap.get("software") or {}).get("name", "?")
                    summary = (f"{cap.get('resourceType')} fhirVersion="
                               f"{cap.get('fhirVersion', '?')} software={software}")
                if partner.auth.type != "none":
                    adapter.auth.headers()  # fetches a token where there is one
                    summary += f"; auth {partner.auth.type} ok"
            finally:
                adapter.close()
        else:
            summary = _check_health(partner)
    except PartnerError as exc:
        raise click.ClickException(f"{partner_id}: FAILED ({exc.describe()})") from None
    elapsed = (time.monotonic() - started) * 1000
    click.echo(f"{partner_id}: OK {summary} ({elapsed:.0f} ms)")


def _check_health(partner) -> str:
    """GET the health endpoint of a non-FHIR partner, with its auth."""
    url = partner.base_url.rstrip("/") + "/" + (partner.health_path or "health").lstrip("/")
    with requests.Session() as session:
        auth = build_auth(partner, session=session)
        try:
            resp = session.get(url, headers=auth.headers(), timeout=(
                partner.timeouts.connect, partner.timeouts.read))
        except requests.RequestException as exc:
            raise PartnerError(f"GET {url} failed: {exc}", partner=partner.id) from exc
    if not resp.ok:
        raise PartnerError(f"GET {url} answered {resp.status_code}", partner=partner.id,
                           response=resp)
    return f"GET {url} -> {resp.status_code}"
