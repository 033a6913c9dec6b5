"""Partners as configuration: the HUB_PARTNERS_FILE (YAML or JSON) as validated dataclasses.

A partner is an instance of a protocol adapter with its base URL, auth and routing; adding
a hospital needs no new module. Secrets are never in the file: the file names the
environment variable that holds them (``client_secret_env``, ``key_env``) or the path of a
private key file.

File shape (YAML; JSON is the same structure)::

    partners:
      - id: st-marys
        kind: hospital            # hospital | insurer | agency
        protocol: fhir            # fhir | agency-json (agency-json for agencies only)
        base_url: https://ehr.st-marys.example/fhir
        organization: Organization/st-marys
        organization_identifier: http://hl7.org/fhir/sid/us-npi|1487659211
        auth: {type: smart-backend, token_url: https://ehr.st-marys.example/token,
               client_id: hub, private_key_file: /etc/hub/keys/st-marys.pem,
               kid: hub-2026, alg: RS384}
        receives: [CarePlan, CareTeam]
        poll_seconds: 3600
        timeouts: {connect: 5, read: 30}
        patient: match            # match | create (the partner's patient, by identifier)
        on_drift: report          # report | resend | pull (hub sync verify --repair)

``organization`` / ``organization_identifier``: the partner's Organization, by reference
and/or by business identifier (``system|value``); a case concerns the partner when it names
that Organization anywhere, either way (``hub.partner_match``).
``patient``: what the hub sends refers to the partner's own Patient, found by the case's
identifiers (MRN); ``create`` also creates it there (conditionally) when none is found,
``match`` refers to it logically (``Reference.identifier``) instead.
``on_drift``: how ``hub sync verify --repair`` brings a resource the partner lost or
changed back in step: ``resend`` the hub's version, ``pull`` the partner's change into the
case (a lost one is re-sent), or only ``report`` it.

``poll_seconds`` is at least 60 for every partner, and at least 900 for agencies: the
Gravity IG asks clients not to poll more often than every 15 minutes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml
from marshmallow import Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

KINDS = ("hospital", "insurer", "agency")
PROTOCOLS = ("fhir", "agency-json")
AUTH_TYPES = ("none", "client-secret", "smart-backend", "api-key")
SMART_ALGS = ("RS384", "ES384")
POLL_FLOOR_SECONDS = 60
PATIENT_POLICIES = ("match", "create")
DRIFT_POLICIES = ("report", "resend", "pull")
AGENCY_POLL_FLOOR_SECONDS = 900  # Gravity: do not poll more often than every 15 minutes
DEFAULT_POLL_SECONDS = 3600  # Gravity: preferably hourly
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
#: Keys that would put a secret into the file; each names the key to use instead.
INLINE_SECRETS = {"client_secret": "client_secret_env", "key": "key_env",
                  "api_key": "key_env", "private_key": "private_key_file",
                  "password": "client_secret_env"}


class PartnerFileError(ValueError):
    """The partners file is unreadable or invalid; ``errors`` maps field paths to messages."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        self.errors = errors or {}
        detail = "; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in self.errors.items())
        super().__init__(f"{message}: {detail}" if detail else message)


@dataclass(frozen=True)
class Auth:
    """How the hub authenticates to the partner; secrets by environment variable name."""

    type: str = "none"
    token_url: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    private_key_file: str | None = None
    kid: str | None = None
    alg: str | None = None
    scope: str | None = None
    header: str | None = None
    key_env: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Timeouts:
    """Seconds to connect and to wait for an answer, applied to every partner call."""

    connect: float = 5.0
    read: float = 30.0


@dataclass(frozen=True)
class Partner:
    """One partner: which protocol adapter, where, how to authenticate, what it receives."""

    id: str
    kind: str
    base_url: str
    protocol: str = "fhir"
    auth: Auth = field(default_factory=Auth)
    organization: str | None = None
    organization_identifier: str | None = None  # system|value, e.g. an NPI
    receives: tuple[str, ...] = ()
    poll_seconds: int = DEFAULT_POLL_SECONDS
    timeouts: Timeouts = field(default_factory=Timeouts)
    health_path: str | None = None
    patient: str = "match"
    on_drift: str = "report"

    def to_dict(self) -> dict:
        """The file form (what ``add`` writes)."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "protocol": self.protocol,
               "base_url": self.base_url, "auth": self.auth.to_dict()}
        if self.organization:
            out["organization"] = self.organization
        if self.organization_identifier:
            out["organization_identifier"] = self.organization_identifier
        out["receives"] = list(self.receives)
        out["poll_seconds"] = self.poll_seconds
        out["timeouts"] = asdict(self.timeouts)
        if self.health_path:
            out["health_path"] = self.health_path
        out["patient"] = self.patient
        out["on_drift"] = self.on_drift
        return out


# -- schemas ------------------------------------------------------------------------------

def _required_for(data: dict, names: tuple[str, ...], auth_type: str) -> dict:
    return {name: [f"Required for auth type {auth_type}."] for name in names
            if not data.get(name)}


class AuthSchema(Schema):
    """One of the four auth shapes, told apart by ``type``."""

    type = fields.String(required=True, validate=validate.OneOf(AUTH_TYPES))
    token_url = fields.Url(schemes={"http", "https"}, require_tld=False)
    client_id = fields.String(validate=validate.Length(min=1))
    client_secret_env = fields.String(validate=validate.Regexp(
        ENV_NAME, error="Must be the name of an environment variable."))
    private_key_file = fields.String(validate=validate.Length(min=1))
    kid = fields.String(validate=validate.Length(min=1))
    alg = fields.String(validate=validate.OneOf(SMART_ALGS))
    scope = fields.String()
    header = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9\-]+$",
                                                    error="Not an HTTP header name."))
    key_env = fields.String(validate=validate.Regexp(
        ENV_NAME, error="Must be the name of an environment variable."))

    SHAPES: ClassVar[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
        "none": ((), ()),
        "client-secret": (("token_url", "client_id", "client_secret_env"), ("scope",)),
        "smart-backend": (("token_url", "client_id", "private_key_file", "kid", "alg"),
                          ("scope",)),
        "api-key": (("header", "key_env"), ()),
    }

    @pre_load
    def _no_inline_secrets(self, data, **_kwargs):
        if isinstance(data, dict):
            errors = {key: [f"Secrets are not stored in the partners file; use {instead}."]
                      for key, instead in INLINE_SECRETS.items() if key in data}
            if errors:
                raise ValidationError(errors)
        return data

    @validates_schema
    def _shape(self, data: dict, **_kwargs) -> None:
        errors: dict[str, list[str]] = {}
        kind = data.get("type")
        if kind in self.SHAPES:
            required, optional = self.SHAPES[kind]
            errors.update(_required_for(data, required, kind))
            allowed = {"type", *required, *optional}
            for name in data:
                if name not in allowed:
                    errors.setdefault(name, []).append(f"Not used by auth type {kind}.")
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make(self, data: dict, **_kwargs) -> Auth:
        return Auth(**data)


class TimeoutsSchema(Schema):
    connect = fields.Float(load_default=5.0, validate=validate.Range(min=0.001, max=300))
    read = fields.Float(load_default=30.0, validate=validate.Range(min=0.001, max=3600))

    @post_load
    def _make(self, data: dict, **_kwargs) -> Timeouts:
        return Timeouts(**data)


class PartnerSchema(Schema):
    """Validation of one partner entry; messages are keyed by the failing field."""

    id = fields.String(required=True, validate=validate.Regexp(
        PARTNER_ID, error="Lower-case letters, digits, '-' and '_' (at most 64)."))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    protocol = fields.String(load_default="fhir", validate=validate.OneOf(PROTOCOLS))
    base_url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False)
    auth = fields.Nested(AuthSchema, load_default=lambda: Auth())
    organization = fields.String(validate=validate.Regexp(
        r"^Organization/[A-Za-z0-9\-.]{1,64}$", error="Must be Organization/{id}."))
    organization_identifier = fields.String(validate=validate.Regexp(
        r"^[^|\s]{1,255}\|[^|\s]{1,255}$", error="Must be system|value (an identifier)."))
    receives = fields.List(fields.String(validate=validate.Regexp(
        RESOURCE_TYPE, error="Not a FHIR resource type name.")), load_default=list)
    poll_seconds = fields.Integer(load_default=DEFAULT_POLL_SECONDS, strict=True)
    timeouts = fields.Nested(TimeoutsSchema, load_default=lambda: Timeouts())
    health_path = fields.String()
    patient = fields.String(load_default="match", validate=validate.OneOf(PATIENT_POLICIES))
    on_drift = fields.String(load_default="report", validate=validate.OneOf(DRIFT_POLICIES))

    @validates_schema(skip_on_field_errors=False)
    def _rules(self, data: dict, **_kwargs) -> None:
        errors: dict[str, list[str]] = {}
        kind, protocol = data.get("kind"), data.get("protocol", "fhir")
        if protocol == "agency-json" and kind and kind != "agency":
            errors["protocol"] = ["agency-json is only for partners of kind agency."]
        poll = data.get("poll_seconds")
        floor = AGENCY_POLL_FLOOR_SECONDS if kind == "agency" else POLL_FLOOR_SECONDS
        if poll is not None and poll < floor:
            why = " (Gravity: not more often than every 15 minutes)" if kind == "agency" else ""
            errors["poll_seconds"] = [f"Must be at least {floor}{why}."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make(self, data: dict, **_kwargs) -> Partner:
        data["receives"] = tuple(data.get("receives") or ())
        return Partner(**data)


# -- the file -----------------------------------------------------------------------------

def _flatten(messages, prefix: str, out: dict[str, list[str]]) -> None:
    if isinstance(messages, dict):
        for key, sub in messages.items():
            path = f"{prefix}[{key}]" if isinstance(key, int) else \
                f"{prefix}.{key}" if prefix else str(key)
            _flatten(sub, path, out)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out.setdefault(prefix, []).extend(messages)
    elif isinstance(messages, list):
        for sub in messages:
            _flatten(sub, prefix, out)
    else:
        out.setdefault(prefix, []).append(str(messages))


def parse_partners(data, source: str = "partners file") -> dict[str, Partner]:
    """Validate the parsed file content (``{"partners": [...]}`` or a bare list)."""
    if isinstance(data, dict) and set(data) <= {"partners"}:
        entries = data.get("partners") or []
    elif isinstance(data, list) or data is None:
        entries = data or []
    else:
        raise PartnerFileError(f"{source}: expected a 'partners' list")
    if not isinstance(entries, list):
        raise PartnerFileError(f"{source} is invalid", {"partners": ["Must be a list."]})
    errors: dict[str, list[str]] = {}
    partners: dict[str, Partner] = {}
    seen: set = set()
    schema = PartnerSchema()
    for index, entry in enumerate(entries):
        # name the entry by its id when it has one: "partners[st-marys].auth.token_url"
        named = isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]
        prefix = f"partners[{entry['id'] if named else index}]"
        if not isinstance(entry, dict):
            errors[prefix] = ["Must be a mapping of partner fields."]
            continue
        if named and named in seen:
            errors.setdefault(f"{prefix}.id", []).append(f"Duplicate partner id {named}.")
        seen.add(named)
        try:
            partner = schema.load(entry)
        except ValidationError as exc:
            _flatten(exc.messages, prefix, errors)
            continue
        partners.setdefault(partner.id, partner)
    if errors:
        raise PartnerFileError(f"{source} is invalid", errors)
    return partners


def load_partners(path: str | os.PathLike | None) -> dict[str, Partner]:
    """The partners of the file at ``path`` (none when ``path`` is empty or missing)."""
    if not path:
        return {}
    path = Path(path)
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise PartnerFileError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}"
                               f" ({exc})") from exc
    return parse_partners(data, str(path))


def save_partners(path: str | os.PathLike, partners: dict[str, Partner]) -> None:
    """Write the file atomically, JSON or YAML after its extension."""
    path = Path(path)
    data = {"partners": [p.to_dict() for p in partners.values()]}
    text = json.dumps(data, indent=2) + "\n" if path.suffix == ".json" \
        else yaml.safe_dump(data, sort_keys=False)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
