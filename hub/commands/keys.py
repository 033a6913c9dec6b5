"""``hub keys``: the access-token signing keys (hub.signing_keys)."""

from __future__ import annotations

import click

from hub.config import Settings
from hub.signing_keys import SigningKeyError, rotate_key_file


@click.group("keys")
def command() -> None:
    """Access-token signing keys: a JWKS file readable by its owner only."""


@command.command("rotate")
@click.option("--file", "path", default=None, type=click.Path(dir_okay=False),
              help="The key file (default: HUB_SIGNING_KEY_FILE).")
@click.option("--keep", default=3, show_default=True,
              help="Older keys kept to verify tokens issued before the rotation.")
@click.pass_obj
def rotate(settings: Settings, path: str | None, keep: int) -> None:
    """Add a new ES256 key in front (it signs from the next start); keep older ones."""
    path = path or settings.signing_key_file
    if not path:
        raise click.UsageError("give --file or set HUB_SIGNING_KEY_FILE")
    try:
        kid = rotate_key_file(path, keep=keep)
    except SigningKeyError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"new signing key {kid} in {path}; restart the hub to sign with it")
