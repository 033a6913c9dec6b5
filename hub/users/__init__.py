"""People who sign in to the console: roles and sign-in providers.

No Flask here. A ``SignInProvider`` turns credentials into a ``SignedIn`` person; the local
one checks the ``users`` table (``hub users create``). An OIDC provider can later implement
the same interface and be registered beside it.
"""

from hub.users.providers import LocalPasswordProvider, SignedIn, SignInProvider
from hub.users.roles import ROLE_PERMISSIONS, may

__all__ = ["ROLE_PERMISSIONS", "LocalPasswordProvider", "SignInProvider", "SignedIn", "may"]
