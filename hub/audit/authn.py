"""AuditEvents of authentication (DICOM "User Authentication", as in IHE ATNA and BALP). Pure.

One event per attempt: ``type`` DCM 110114 "User Authentication", ``subtype`` DCM 110122
"Login" (a token request, a console sign-in, a request whose token is refused) or 110123
"Logout" (a console sign-out), ``action`` E, ``outcome`` 0 or 4 (refused) with the hub's
own ``outcomeDesc``. Agents: who claimed to authenticate (the client id a token request or
a refused token names, or the console user name; never a password, secret, assertion or
token), with the caller's network address, and the hub. Nothing else: an authentication
names no patient.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from hub.audit.events import DCM, SOURCE_TYPE, USER_SYSTEM, client_reference

USER_AUTHENTICATION = {"system": DCM, "code": "110114", "display": "User Authentication"}
LOGIN = {"system": DCM, "code": "110122", "display": "Login"}
LOGOUT = {"system": DCM, "code": "110123", "display": "Logout"}
_SOURCE_ROLE = {"system": DCM, "code": "110153", "display": "Source Role ID"}
_DESTINATION_ROLE = {"system": DCM, "code": "110152", "display": "Destination Role ID"}
#: at most this much of a claimed client id or user name is kept
MAX_CLAIM = 64


def claimed(value: object) -> str | None:
    """A claimed client id or user name as the log keeps it: a string, printable, at most
    ``MAX_CLAIM`` characters; None when there is none."""
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value if ch.isprintable() and not ch.isspace())[:MAX_CLAIM]
    return text or None


@dataclass(frozen=True)
class Attempt:
    """One authentication: who claimed to be whom, from where, and how it ended."""

    kind: str  # "client" (a token or a token request) or "user" (the console)
    claim: str | None  # the client id or user name claimed (``claimed``), if any
    address: str | None
    server: str
    refused: bool
    status: int  # the HTTP status of the answer
    logout: bool = False
    unrecorded_before: int = 0  # failures from this address not recorded one by one


def _who(attempt: Attempt) -> dict:
    if attempt.claim is None:
        return {"display": f"unidentified {attempt.kind}"}
    if attempt.kind == "user":
        return {"identifier": {"system": USER_SYSTEM, "value": attempt.claim},
                "display": attempt.claim}
    return client_reference(attempt.claim)


def _description(attempt: Attempt) -> str | None:
    if not attempt.refused:
        return None
    desc = f"{attempt.status} refused"
    if attempt.unrecorded_before:
        desc += (f"; {attempt.unrecorded_before} earlier failures from this address "
                 f"were not recorded one by one")
    return desc


def build(attempt: Attempt, recorded: datetime) -> dict:
    """The AuditEvent of ``attempt``."""
    caller = {"type": {"coding": [_SOURCE_ROLE]}, "who": _who(attempt), "requestor": True}
    if attempt.address:
        caller["network"] = {"address": attempt.address, "type": "2"}
    hub = {"type": {"coding": [_DESTINATION_ROLE]}, "who": {"display": attempt.server},
           "requestor": False}
    event = {
        "resourceType": "AuditEvent", "id": str(uuid.uuid4()),
        "type": USER_AUTHENTICATION,
        "subtype": [LOGOUT if attempt.logout else LOGIN],
        "action": "E",
        "recorded": recorded.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "outcome": "4" if attempt.refused else "0",
        "agent": [caller, hub],
        "source": {"site": attempt.server, "observer": {"display": attempt.server},
                   "type": [{"system": SOURCE_TYPE, "code": "4",
                             "display": "Application Server"}]},
    }
    desc = _description(attempt)
    if desc:
        event["outcomeDesc"] = desc
    return event

