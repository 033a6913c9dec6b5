"""``/openapi.json`` (the OpenAPI 3.1 description, ``hub.openapi``) and ``/docs``, a page
rendered from it on the server: no script, nothing fetched from elsewhere."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, render_template

from hub.openapi import build_spec

bp = Blueprint("docs", __name__, template_folder="../templates")

_METHODS = ("get", "post", "put", "patch", "delete")


def _spec() -> dict[str, Any]:
    spec = current_app.extensions.get("hub.openapi")
    if spec is None:
        spec = current_app.extensions["hub.openapi"] = build_spec()
    return spec


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3.1 description of the hub's JSON APIs."""
    return current_app.json.response(_spec())


def _example(response: dict[str, Any]) -> str | None:
    for content in response.get("content", {}).values():
        if content.get("example") is not None:
            return json.dumps(content["example"], indent=2)
    return None


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = None
            for media, content in (op.get("requestBody") or {}).get("content", {}).items():
                body = {"media": media, "example": json.dumps(content.get("example"),
                                                              indent=2)}
            responses = [{"status": status, "description": r.get("description", ""),
                          "example": _example(r)}
                         for status, r in op.get("responses", {}).items()]
            found.append({"method": method.upper(), "path": path, "id": op["operationId"],
                          "tag": (op.get("tags") or ["other"])[0],
                          "summary": op.get("summary", ""),
                          "description": op.get("description", ""),
                          "parameters": [*shared, *op.get("parameters", [])],
                          "body": body, "responses": responses,
                          "public": op.get("security") == []})
    return found


@bp.get("/docs")
def docs_page():
    """The API reference, rendered from /openapi.json."""
    spec = _spec()
    return render_template("api_docs.html", info=spec["info"],
                           operations=_operations(spec))
