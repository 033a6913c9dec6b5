"""What a subscription may see: what its creating client may read, now.

Checked when an event is matched (in the write's transaction) and again when the
notification is sent: the client must still be registered and not revoked, its scopes must
grant ``r`` on the resource's type, and a client bound to an Organization sees only its
compartment (``hub.fhirstore.compartments``).
"""

from __future__ import annotations

from hub.fhirstore import compartments
from hub.security import parse_scopes
from hub.store.client_repo import ClientRepository


def client_may_read(session, client_id: str, organization: str | None, rtype: str,
                    rid: str, deleted: bool = False) -> bool:
    """``deleted``: the event of a deletion, whose compartment was checked on its last
    version when it was matched (a deleted resource is in no compartment any more)."""
    client = ClientRepository(session).get(client_id)
    if client is None or not client.active:
        return False
    try:
        scopes = parse_scopes(client.scope)
    except ValueError:
        return False
    if not any(s.allows(rtype, "r") for s in scopes):
        return False
    if deleted:
        return True
    org = client.organization or organization
    return compartments.is_visible(session, org, rtype, rid, live=True)
