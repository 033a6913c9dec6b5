"""Settings of the hub, read from HUB_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields


def _as_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Settings:
    """Everything configurable. ``from_env`` reads ``HUB_<NAME>`` for each field."""

    # database: SQLite file in the working directory unless told otherwise
    database_url: str = "sqlite:///hub.db"
    # HTTP
    host: str = "127.0.0.1"
    port: int = 8080
    # public base URL (token audience, absolute links); derived from host/port when empty
    base_url: str = ""
    # security: access-token keys (hub.signing_keys): a JWKS file (mode 0600) or JWKS JSON;
    # secret_key is one HS256 secret (signs when neither is set, else only verifies)
    signing_key_file: str = ""
    signing_keys: str = ""
    secret_key: str = ""
    # failed token requests allowed per client id and per source address (Flask-Limiter
    # rate strings), counted in memory or in Redis (redis://...) when a URL is given
    token_failures_per_client: str = "10 per minute"
    token_failures_per_address: str = "30 per minute"
    ratelimit_storage_url: str = "memory://"
    # prefix of the limiter's keys in that storage (several hubs sharing one Redis)
    ratelimit_key_prefix: str = "hub"
    # refused authentications (token requests, refused tokens, console sign-ins) recorded
    # one by one as AuditEvents per source address and in all; past these they are
    # counted, and the next one recorded says how many were not (hub.routes.audit_authn)
    audit_auth_failures_per_address: str = "20 per minute"
    audit_auth_failures_total: str = "200 per minute"
    # failed console sign-ins allowed per user name and per source address (Flask-Limiter)
    sign_in_failures_per_user: str = "5 per 5 minutes"
    sign_in_failures_per_address: str = "20 per 5 minutes"
    token_lifetime_seconds: int = 300
    # secret key of the resource ids derived from cases; when empty one is generated and
    # kept in the database (hub_id_key)
    id_key: str = ""
    client_assertion_max_seconds: int = 300
    # partners and sync
    partners_file: str = ""
    # MRN systems that identify a patient (comma-separated; empty: the fixtures' MRN systems):
    # one Patient per identifier of these systems, one open case per patient and program
    patient_identifier_systems: str = ""
    sync_worker: bool = True
    # who delivers the outbox: "thread" (inside `hub serve`), "worker" (`hub worker`
    # processes) or "celery" (Celery workers, kicked after every commit that queued work)
    sync_executor: str = "thread"
    # Celery executor (hub.sync.celery_app): the broker, RabbitMQ (amqp://) or Redis (redis://)
    celery_broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"
    # seconds between two polls of a pended prior authorization at the insurer
    pended_poll_seconds: int = 300
    # audit log: AuditEvents older than this many days are purged by the worker and
    # `hub audit purge` (6 years, the HIPAA documentation retention)
    audit_retention_days: int = 2190
    # database connections kept open per process, PostgreSQL or a SQLite file
    # (hub.store.db.DEFAULT_POOL_SIZE)
    db_pool_size: int = 10
    # paging of list endpoints
    page_size_default: int = 20
    page_size_max: int = 200
    # limits on what one request may ask (hub.limits; answered 413/400 before any work)
    max_body_bytes: int = 8 * 1024 * 1024
    max_json_depth: int = 64
    max_bundle_entries: int = 1000
    max_batch_searches: int = 20
    max_batch_results: int = 1000  # sum of the page sizes of a batch's searches
    max_response_bytes: int = 32 * 1024 * 1024  # reads and searches
    max_string_length: int = 1024 * 1024  # any string of a FHIR resource (attachments)
    max_text_length: int = 10_000  # any string of a case-API body (summary, notes)
    max_offset: int = 100_000  # _offset, offset
    # response headers: browser origins allowed by CORS (space or comma separated)
    cors_origins: str = ""
    # outbound calls to URLs a client names (partner tests): allowed origins or hosts
    outbound_allowlist: str = ""
    # Subscriptions: the URL prefixes a rest-hook endpoint must start with (comma separated;
    # empty: every rest-hook Subscription is refused), and the consecutive failed
    # deliveries after which a subscription's status is error
    subscription_endpoints: str = ""
    subscription_max_failures: int = 3
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(f"HUB_{f.name.upper()}")
            if raw is None:
                continue
            if f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("bool", bool):
                values[f.name] = _as_bool(raw)
            else:
                values[f.name] = raw
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        if self.sync_executor not in ("thread", "worker", "celery"):
            raise ValueError("HUB_SYNC_EXECUTOR must be thread, worker or celery, "
                             f"not {self.sync_executor!r}")

    @property
    def public_base_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")
