"""The console for people at ``/``: sign-in, sessions, CSRF and role checks.

Pages live in ``console_cases`` (case managers, supervisors) and ``console_ops``
(operators); this module sets up what they share:

* the session cookie: HttpOnly, SameSite=Lax, Secure when the hub is served over TLS
  (``HUB_BASE_URL`` https); its key is derived from the key that signs the hub's tokens
  (rotating that key signs everyone out);
* CSRF: every POST of the console carries Flask-WTF's token (``csrf_token()`` in the
  templates), checked before the view runs (400 otherwise);
* sign-in through a ``hub.users.SignInProvider`` (local passwords today; an OIDC provider
  can be added to ``app.extensions["hub.sign_in_providers"]``); failed sign-ins are
  limited per user name and per address with the app's Flask-Limiter (the one of
  ``hub.routes.auth``): past the limit, 429 until the window ends; every sign-in, failure
  and sign-out is logged without patient data;
* ``needs(permission)``: the signed-in person's role must hold it (``hub.users.may``);
  the role is re-read on every request, so a disabled user's session ends at once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from datetime import timedelta
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf

from hub.errors import HubError
from hub.routes.auth import limit_blueprint
from hub.routes.guards import signing_keys
from hub.users import LocalPasswordProvider, may

bp = Blueprint("console", __name__)
log = logging.getLogger("hub.console")
SESSION_HOURS = 8


def _providers() -> dict:
    return current_app.extensions["hub.sign_in_providers"]


def _session_key() -> bytes:
    """The session-cookie key: an HMAC of the token-signing key, never the key itself."""
    key = signing_keys().signer.key
    material = key if isinstance(key, bytes) else key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    return hmac.new(material, b"hub console session", hashlib.sha256).hexdigest().encode()


def init_app(app: Flask) -> None:
    settings = app.extensions["hub.settings"]
    app.config.update(
        SESSION_COOKIE_NAME="hub_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        WTF_CSRF_TIME_LIMIT=SESSION_HOURS * 3600,
        WTF_CSRF_SSL_STRICT=True,
    )
    app.session_interface = _DerivedKeySessions()
    app.extensions["hub.sign_in_providers"] = {
        "local": LocalPasswordProvider(lambda: app.extensions["hub.db"])}
    _limit_sign_in_failures(app)
    app.jinja_env.globals["csrf_token"] = generate_csrf
    app.jinja_env.globals["may"] = lambda permission: may(_role(), permission)


def _signing_in() -> bool:
    return request.endpoint == "console.sign_in" and request.method == "POST"


def _limit_sign_in_failures(app: Flask) -> None:
    """Failed sign-ins (401) per user name and per address, on the app's limiter."""
    settings = app.extensions["hub.settings"]
    limiter = limit_blueprint(app, bp.name)
    limiter.limit(settings.sign_in_failures_per_user,
                  key_func=lambda: "console-user:" + request.form.get("name", "").strip().lower(),
                  deduct_when=lambda response: response.status_code == 401,
                  exempt_when=lambda: not _signing_in(), scope="console-user")(bp)
    limiter.limit(settings.sign_in_failures_per_address,
                  key_func=lambda: "console-address:" + (get_remote_address() or "?"),
                  deduct_when=lambda response: response.status_code == 401,
                  exempt_when=lambda: not _signing_in(), scope="console-address")(bp)


def _role() -> str | None:
    user = g.get("user")
    return user.role if user is not None else None


class _DerivedKeySessions(SecureCookieSessionInterface):
    """Signed-cookie sessions whose key is derived from the token key on first use (the
    token key may only be readable once the database is migrated, on PostgreSQL)."""

    @staticmethod
    def _derive_key(app: Flask) -> None:
        if not app.secret_key:
            with app.app_context():
                app.secret_key = _session_key()

    def get_signing_serializer(self, app: Flask):
        self._derive_key(app)
        return super().get_signing_serializer(app)

    def open_session(self, app: Flask, request):
        """Without a session cookie (every API request), an empty session, without
        building the signing serializer (the key is still derived: CSRF tokens use it);
        without a Cookie header at all, without parsing the request's cookies either."""
        if ("HTTP_COOKIE" not in request.environ
                or not request.cookies.get(self.get_cookie_name(app))):
            self._derive_key(app)
            return self.session_class()
        return super().open_session(app, request)


def load_user() -> None:
    """``g.user``: the signed-in person, re-checked against their provider."""
    g.user = None
    name, provider_id = session.get("user"), session.get("provider")
    if not name:
        return
    provider = _providers().get(provider_id)
    person = provider.still_allowed(name) if provider is not None else None
    if person is None:
        session.clear()
        return
    g.user = person


def check_csrf() -> None:
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValueError as err:  # wtforms' ValidationError
            raise CSRFError(err.args[0] if err.args else "CSRF check failed") from None


def console_blueprint(name: str, import_name: str) -> Blueprint:
    """A console blueprint: the user is loaded and CSRF checked before every view, and
    errors are answered as pages."""
    blueprint = Blueprint(name, import_name)
    blueprint.before_request(load_user)
    blueprint.before_request(check_csrf)
    blueprint.register_error_handler(CSRFError, _csrf_refused)
    blueprint.register_error_handler(HubError, _hub_error_page)
    return blueprint


def _csrf_refused(err: CSRFError):
    log.warning("console: CSRF check failed on %s %s", request.method, request.path)
    return render_template("console/error.html", status=400,
                           message="The form has expired or did not come from this site; "
                                   "reload the page and try again."), 400


def _hub_error_page(err: HubError):
    return render_template("console/error.html", status=err.status,
                           message=err.message), err.status


bp.before_request(load_user)
bp.before_request(check_csrf)
bp.register_error_handler(CSRFError, _csrf_refused)
bp.register_error_handler(HubError, _hub_error_page)


@bp.errorhandler(429)
def _throttled(err):
    """Too many failed sign-ins: the form again (the limiter adds Retry-After)."""
    log.warning("console: sign-in throttled (address %s)", request.remote_addr or "-")
    return render_template("console/signin.html", next=request.form.get("next", ""),
                           name=request.form.get("name", ""),
                           error="Too many failed attempts; try again in a few minutes."), 429


def needs(permission: str):
    """View decorator: a signed-in person whose role holds ``permission``."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = g.get("user")
            if user is None:
                return redirect(url_for("console.sign_in", next=request.full_path
                                        if request.method == "GET" else None))
            if not may(user.role, permission):
                log.warning("console: %s refused to a %s", request.endpoint, user.role)
                return render_template("console/error.html", status=403,
                                       message="Your role does not allow this page."), 403
            return view(*args, **kwargs)

        return wrapped

    return decorator


def signed_in_name() -> str:
    """Who is making a change (recorded on the case)."""
    return f"user:{g.user.name}"


def home_for(role: str) -> str:
    if may(role, "cases.read"):
        return url_for("console_cases.worklist")
    if may(role, "operations.read"):
        return url_for("console_ops.operations")
    return url_for("console.sign_in")


def _safe_next(target: str | None) -> str | None:
    """Only a local path (no scheme, no host) is followed after sign-in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.get("/")
def home():
    if g.user is None:
        return redirect(url_for("console.sign_in"))
    return redirect(home_for(g.user.role))


@bp.route("/signin", methods=["GET", "POST"])
def sign_in():
    if request.method == "GET":
        return render_template("console/signin.html", next=request.args.get("next", ""))
    name = request.form.get("name", "").strip()
    address = request.remote_addr or "-"
    person = _providers()["local"].sign_in({"name": name,
                                            "password": request.form.get("password", "")})
    if person is None:
        log.warning("console: sign-in failed (address %s)", address)
        return render_template("console/signin.html", next=request.form.get("next", ""),
                               name=name, error="Unknown user name or wrong password."), 401
    session.clear()
    session.permanent = True
    session["user"], session["provider"] = person.name, person.provider
    log.info("console: %s signed in (%s, %s)", person.name, person.role, person.provider)
    return redirect(_safe_next(request.form.get("next")) or home_for(person.role))


@bp.post("/signout")
def sign_out():
    if g.user is not None:
        log.info("console: %s signed out", g.user.name)
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("console.sign_in"))
