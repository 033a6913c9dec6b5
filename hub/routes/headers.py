"""Response headers of every answer: no caching of patient data, no MIME sniffing, and CORS
for the browser origins listed in ``HUB_CORS_ORIGINS`` (none by default).

- ``Cache-Control: no-store`` on everything but the public discovery documents
  (CapabilityStatement, SMART configuration, JWKS) and the health check;
- ``X-Content-Type-Options: nosniff`` everywhere;
- CORS: an allowed ``Origin`` gets ``Access-Control-Allow-Origin`` (that origin, never ``*``,
  no credentials: tokens travel in the Authorization header) and the headers a FHIR client
  reads (ETag, Location, ...); preflight ``OPTIONS`` requests are answered here, before any
  authentication. Other origins get no CORS header, so browsers keep the answer from them.
"""

from __future__ import annotations

from flask import Flask, Request, Response

from hub.routes.current import header, this_app, this_request

PUBLIC_PATHS = frozenset({"/fhir/metadata", "/fhir/.well-known/smart-configuration",
                          "/.well-known/jwks.json", "/healthz"})
ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = ("Authorization, Content-Type, Accept, If-Match, If-None-Match, "
                 "If-None-Exist, If-Modified-Since, Prefer")
EXPOSE_HEADERS = "ETag, Location, Content-Location, Last-Modified, Retry-After"


def parse_origins(text: str) -> frozenset[str]:
    """The allowed origins of ``HUB_CORS_ORIGINS`` (space or comma separated)."""
    return frozenset(o.strip().rstrip("/") for o in text.replace(",", " ").split()
                     if o.strip())


def _allowed_origin(req: Request) -> str | None:
    origin = header(req, "Origin")
    if origin and origin in this_app().extensions["hub.cors_origins"]:
        return origin
    return None


def _preflight():
    """Answer a CORS preflight before authentication (browsers send no token with it)."""
    req = this_request()
    if req.method != "OPTIONS" or "Access-Control-Request-Method" not in req.headers:
        return None
    resp = Response(status=204)
    if _allowed_origin(req):
        resp.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        resp.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        resp.headers["Access-Control-Max-Age"] = "600"
    return resp


def _headers(resp: Response) -> Response:
    req = this_request()
    resp.headers["X-Content-Type-Options"] = "nosniff"
    if req.path not in PUBLIC_PATHS:
        resp.headers["Cache-Control"] = "no-store"
        resp.headers.setdefault("Pragma", "no-cache")
    origin = _allowed_origin(req)
    if origin:
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    if "Vary" in resp.headers:
        resp.vary.add("Origin")
    else:  # the common case, without parsing and writing back a header set
        resp.headers["Vary"] = "Origin"
    return resp


def init_app(app: Flask) -> None:
    app.extensions["hub.cors_origins"] = parse_origins(app.extensions["hub.settings"]
                                                       .cors_origins)
    app.before_request(_preflight)
    app.after_request(_headers)
