"""Proof that a run is the protected apply job: a GitHub Actions OIDC token, verified, not variables.

Environment variables prove nothing about where a process runs (``CI=1 GITHUB_REF=refs/heads/main``
can be typed on any laptop). An OIDC token can not: GitHub signs it for one job, with claims saying
which repository, ref, event and deployment environment the job runs for, and only a job granted
``permissions: id-token: write`` can ask for one (through ``ACTIONS_ID_TOKEN_REQUEST_URL`` and
``ACTIONS_ID_TOKEN_REQUEST_TOKEN``, which the runner sets for that job alone). The apply guard
(``fabric.guard``) accepts "main-branch CI" only with such a token, signed by GitHub's published
keys, for our audience, naming the committed repository (``fabric.protection.APPLY_FROM``), the
``main`` ref, a ``push`` event and the protected ``production`` environment.

GitHub's documentation of the token and its claims: "About security hardening with OpenID Connect"
(claims ``repository``, ``ref``, ``event_name``, ``environment``, ``sub``; issuer
``https://token.actions.githubusercontent.com``; keys at ``/.well-known/jwks``). The signature and
the standard claims (``exp``, ``iat``, ``aud``, ``iss``) are checked by PyJWT.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

ISSUER = "https://token.actions.githubusercontent.com"
JWKS_URL = f"{ISSUER}/.well-known/jwks"
AUDIENCE = "samakia-fabric-apply"
TIMEOUT_S = 20

Fetch = Callable[[str, Mapping[str, str]], bytes]
"""GET a URL with headers, return the body (injected in tests)."""


class IdentityError(RuntimeError):
    """No verifiable proof that this run is the protected apply job; the message says what is missing."""


@dataclass(frozen=True)
class ApplyFrom:
    """Where protected applies may run: committed code, reviewed like any other change."""

    repository: str
    """``owner/name`` of the repository whose workflow applies."""
    ref: str = "refs/heads/main"
    event: str = "push"
    environment: str = "production"
    """The protected deployment environment that alone holds the apply token."""


def _get(url: str, headers: Mapping[str, str]) -> bytes:
    request = urllib.request.Request(url, headers=dict(headers))  # noqa: S310 (https URLs from GitHub's runner)
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
        return bytes(response.read())


def request_token(env: Mapping[str, str], fetch: Fetch = _get) -> str:
    """Ask the runner for this job's OIDC token, for our audience."""
    url, bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_URL"), env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url or not bearer:
        raise IdentityError(
            "no GitHub OIDC token can be requested (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN unset): only the "
            "apply job, with 'permissions: id-token: write', proves it is main-branch CI"
        )
    sep = "&" if urllib.parse.urlparse(url).query else "?"
    try:
        body = fetch(f"{url}{sep}audience={urllib.parse.quote(AUDIENCE)}", {"Authorization": f"Bearer {bearer}"})
        token = json.loads(body)["value"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IdentityError(f"the runner did not hand out an OIDC token: {exc}") from None
    if not isinstance(token, str) or not token:
        raise IdentityError("the runner handed out an empty OIDC token")
    return token


def verify(token: str, jwks: Mapping[str, Any], expected: ApplyFrom) -> dict[str, Any]:
    """The token's claims, once its signature, issuer, audience and lifetime check out and it names
    ``expected``; ``IdentityError`` naming the first thing that does not."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = jwt.PyJWKSet.from_dict(dict(jwks))[str(kid)]
        claims: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    except (jwt.PyJWTError, KeyError) as exc:
        raise IdentityError(f"the OIDC token does not verify against GitHub's keys: {exc}") from None
    wanted = {
        "repository": expected.repository,
        "ref": expected.ref,
        "event_name": expected.event,
        "environment": expected.environment,
    }
    for claim, value in wanted.items():
        if claims.get(claim) != value:
            raise IdentityError(f"the OIDC token's {claim} is {claims.get(claim)!r}, not {value!r}")
    return claims


def prove_apply_job(env: Mapping[str, str], expected: ApplyFrom, fetch: Fetch = _get) -> dict[str, Any]:
    """This job's verified claims: request the token, fetch GitHub's keys, verify."""
    token = request_token(env, fetch)
    try:
        jwks = json.loads(fetch(JWKS_URL, {"Accept": "application/json"}))
    except (OSError, ValueError) as exc:
        raise IdentityError(f"GitHub's OIDC keys could not be fetched from {JWKS_URL}: {exc}") from None
    return verify(token, jwks, expected)
