"""Issue 9.6 cannot regress: every route that shows or changes patient data leaves an
AuditEvent. The app's URL map is walked: a route is either one of the few that carry no
patient data (named here, each with the reason), under ``/fhir`` (each interaction is
recorded by ``hub.fhirapi``; tests/security/test_audit.py), or of a blueprint that has the
audit hook of ``hub.routes.audit_http`` (``audit_api`` / ``audit_console``). A new
blueprint or route that is none of these fails this test.
"""

from __future__ import annotations

from hub.routes.audit_http import audited

#: endpoints that show or change no patient data, and why
NO_PATIENT_DATA = {
    "static": "the console's style sheet",
    "health.healthz": "liveness: no data",
    "metrics.metrics": "Prometheus counters: no identifiers",
    "docs.docs_page": "the API documentation",
    "docs.openapi_json": "the OpenAPI document",
    "auth.token": "the token endpoint (its failures are authentication AuditEvents)",
    "auth.jwks": "the public keys of the hub's tokens",
    "auth.smart_configuration": "the SMART discovery document",
    "console.home": "a redirect to the signed-in user's page",
    "console.sign_in": "the sign-in form (sign-ins are authentication AuditEvents)",
    "console.sign_out": "signing out (an authentication AuditEvent)",
}
#: blueprints whose interactions hub.fhirapi records itself (one AuditEvent per request)
RECORDED_BY_FHIRAPI = {"fhir"}


def _blueprint(endpoint: str) -> str | None:
    return endpoint.rsplit(".", 1)[0] if "." in endpoint else None


def test_every_patient_data_route_is_audited(app):
    unaudited = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NO_PATIENT_DATA:
            continue
        blueprint = _blueprint(rule.endpoint)
        if blueprint in RECORDED_BY_FHIRAPI:
            continue
        if blueprint is None or not audited(app, blueprint):
            unaudited.append(f"{sorted(rule.methods - {'HEAD', 'OPTIONS'})} {rule.rule} "
                             f"({rule.endpoint})")
    assert unaudited == [], "routes without AuditEvents: " + "; ".join(sorted(unaudited))


def test_the_case_api_admin_and_console_blueprints_are_audited(app):
    prefixes = ("/api/", "/admin/", "/cases", "/caseload", "/operations", "/notifications/")
    blueprints = {_blueprint(r.endpoint) for r in app.url_map.iter_rules()
                  if r.rule.startswith(prefixes)}
    assert {"cases", "coverage", "admin", "console_cases", "console_ops",
            "notifications"} <= blueprints
    assert all(audited(app, b) for b in blueprints)


def test_the_exemptions_name_real_endpoints_and_nothing_else_is_exempt(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    assert set(NO_PATIENT_DATA) <= endpoints  # a renamed endpoint does not stay exempt
    assert not audited(app, "health") and not audited(app, "auth")
