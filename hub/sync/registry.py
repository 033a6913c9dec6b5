"""The adapter registry: one configured protocol adapter per partner, built on first use.

Secrets are read from the environment when a partner's adapter is built, so a partner with
a missing secret fails its own deliveries (retried, then dead-lettered) and no one else's.
The registry re-reads the partners file when it changes on disk.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path

from hub.adapters.agency_json import AgencyJsonClient
from hub.adapters.errors import PartnerConfigError
from hub.adapters.fhir_rest import FhirRestClient
from hub.adapters.outbound import GuardedSession, OutboundPolicy
from hub.adapters.smart_auth import ApiKeyAuth, ClientSecretAuth, NoAuth, SmartBackendAuth
from hub.fhirjson import codec
from hub.sync.partners import Partner, load_partners

#: The identifier system of the deterministic identifier the hub puts on resources it
#: creates at partners (value ``{Type}/{local id}``), used for If-None-Exist.
DEFAULT_IDENTIFIER_SYSTEM = "urn:fhir-case-hub:resource"


def _secret(partner: Partner, env_name: str | None, environ: Mapping[str, str]) -> str:
    value = environ.get(env_name or "")
    if not value:
        raise PartnerConfigError(f"partner {partner.id}: environment variable {env_name} "
                                 f"(its secret) is not set", partner=partner.id)
    return value


def _given(partner: Partner, value: str | None, name: str) -> str:
    """A required auth field (the partners file schema requires it; checked again here)."""
    if not value:
        raise PartnerConfigError(f"partner {partner.id}: auth.{name} is not set",
                                 partner=partner.id)
    return value


def build_auth(partner: Partner, environ: Mapping[str, str] | None = None, *, session=None):
    """The auth object of a partner, secrets resolved from ``environ``."""
    env = os.environ if environ is None else environ
    auth = partner.auth
    timeout = (partner.timeouts.connect, partner.timeouts.read)
    common = {"scope": auth.scope, "session": session, "timeout": timeout,
              "partner": partner.id}
    if auth.type == "client-secret":
        return ClientSecretAuth(_given(partner, auth.token_url, "token_url"),
                                _given(partner, auth.client_id, "client_id"),
                                _secret(partner, auth.client_secret_env, env), **common)
    if auth.type == "smart-backend":
        try:
            key = Path(_given(partner, auth.private_key_file, "private_key_file")).read_bytes()
        except OSError as exc:
            raise PartnerConfigError(f"partner {partner.id}: cannot read private_key_file "
                                     f"{auth.private_key_file}: {exc.strerror}",
                                     partner=partner.id) from exc
        return SmartBackendAuth(_given(partner, auth.token_url, "token_url"),
                                _given(partner, auth.client_id, "client_id"), key,
                                kid=_given(partner, auth.kid, "kid"),
                                alg=_given(partner, auth.alg, "alg"), **common)
    if auth.type == "api-key":
        return ApiKeyAuth(_given(partner, auth.header, "header"),
                          _secret(partner, auth.key_env, env))
    return NoAuth()


def outbound_session(partner: Partner, environ: Mapping[str, str] | None = None):
    """The partner's HTTP session: it reaches only the partner's configured URLs and the
    origins of ``HUB_OUTBOUND_ALLOWLIST`` (no redirect or link elsewhere)."""
    env = os.environ if environ is None else environ
    try:
        policy = OutboundPolicy.of([partner.base_url, partner.auth.token_url],
                                   env.get("HUB_OUTBOUND_ALLOWLIST", ""))
    except ValueError as exc:
        raise PartnerConfigError(str(exc), partner=partner.id) from None
    return GuardedSession(policy, partner.id)


def build_adapter(partner: Partner, environ: Mapping[str, str] | None = None):
    """The protocol adapter configured for ``partner``."""
    if partner.protocol == "agency-json":
        return AgencyJsonClient.from_partner(partner, environ,
                                             session=outbound_session(partner, environ))
    if partner.protocol != "fhir":
        raise PartnerConfigError(f"partner {partner.id}: protocol {partner.protocol} has no "
                                 f"adapter yet", partner=partner.id)
    client = FhirRestClient(partner.id, partner.base_url,
                            timeout=(partner.timeouts.connect, partner.timeouts.read),
                            session=outbound_session(partner, environ),
                            dumps=codec.dumps, loads=codec.loads)
    # the token requests share the partner's session (one connection pool per partner)
    client.auth = build_auth(partner, environ, session=client.session)
    return client


class Adapters:
    """Partner id -> adapter. ``get`` raises PartnerConfigError for an unknown partner.

    :param partners: the partners, or None to read ``partners_file`` (and re-read it when
        its modification time changes).
    :param overrides: ready-made adapters by partner id (tests, fakes).
    """

    def __init__(self, partners: Mapping[str, Partner] | None = None, *,
                 partners_file: str | None = None, overrides: Mapping[str, object] | None = None,
                 environ: Mapping[str, str] | None = None,
                 identifier_system: str = DEFAULT_IDENTIFIER_SYSTEM) -> None:
        self.partners_file = partners_file
        self.environ = environ
        self.identifier_system = identifier_system
        self._overrides = dict(overrides or {})
        self._partners: dict[str, Partner] = dict(partners or {})
        self._built: dict[str, object] = {}
        self._mtime: float | None = None
        self._lock = threading.Lock()
        if partners is None and partners_file:
            self._reload_if_changed()

    def _reload_if_changed(self) -> None:
        try:
            mtime: float | None = os.stat(self.partners_file or "").st_mtime
        except OSError:
            mtime = None
        if mtime != self._mtime:
            self._partners = load_partners(self.partners_file)
            self._mtime = mtime
            for adapter in self._built.values():
                getattr(adapter, "close", lambda: None)()
            self._built = {}

    @property
    def partners(self) -> dict[str, Partner]:
        with self._lock:
            if self.partners_file:
                self._reload_if_changed()
            return dict(self._partners)

    def get(self, partner_id: str):
        """The adapter of ``partner_id``, built (and cached) on first use."""
        if partner_id in self._overrides:
            return self._overrides[partner_id]
        with self._lock:
            if self.partners_file:
                self._reload_if_changed()
            if partner_id not in self._built:
                partner = self._partners.get(partner_id)
                if partner is None:
                    raise PartnerConfigError(f"unknown partner {partner_id} (not in the "
                                             f"partners file)", partner=partner_id)
                self._built[partner_id] = build_adapter(partner, self.environ)
            return self._built[partner_id]

    def close(self) -> None:
        with self._lock:
            for adapter in self._built.values():
                getattr(adapter, "close", lambda: None)()
            self._built = {}
