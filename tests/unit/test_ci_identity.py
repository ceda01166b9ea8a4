"""The apply job's proof: a GitHub OIDC token verified with PyJWT against a key set, claims checked.

Keys are made here (RSA, as GitHub signs with RS256); the "runner" and "GitHub" are a fetch function
that serves the token request and the key set, so every path runs without a network.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fabric.ci_identity import AUDIENCE, ISSUER, JWKS_URL, ApplyFrom, IdentityError, prove_apply_job, verify

EXPECTED = ApplyFrom(repository="samakia/samakia-fabric")
RUNNER_URL = "https://runner.invalid/idtoken?api-version=2.0"
GOOD = {
    "iss": ISSUER,
    "aud": AUDIENCE,
    "repository": "samakia/samakia-fabric",
    "ref": "refs/heads/main",
    "event_name": "push",
    "environment": "production",
    "sub": "repo:samakia/samakia-fabric:environment:production",
    "actor": "merger",
    "run_id": "42",
}


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    return private, {"keys": [jwk | {"kid": "gh-1", "alg": "RS256", "use": "sig"}]}


def token(private: rsa.RSAPrivateKey, kid: str = "gh-1", **claims: Any) -> str:
    now = int(time.time())
    body = {"iat": now, "nbf": now, "exp": now + 300} | GOOD | claims
    return jwt.encode(
        {k: v for k, v in body.items() if v is not None}, private, algorithm="RS256", headers={"kid": kid}
    )


def test_a_token_for_the_apply_job_verifies(keys: tuple[rsa.RSAPrivateKey, dict[str, Any]]) -> None:
    private, jwks = keys
    assert verify(token(private), jwks, EXPECTED)["sub"] == GOOD["sub"]


@pytest.mark.parametrize(
    ("claims", "named"),
    [
        ({"ref": "refs/pull/7/merge"}, "ref is 'refs/pull/7/merge'"),
        ({"event_name": "pull_request"}, "event_name is 'pull_request'"),
        ({"environment": None}, "environment is None"),
        ({"environment": "staging"}, "environment is 'staging'"),
        ({"repository": "someone/fork"}, "repository is 'someone/fork'"),
        ({"aud": "sts.amazonaws.com"}, "Audience"),
        ({"iss": "https://evil.invalid"}, "issuer"),
        ({"exp": int(time.time()) - 60}, "expired"),
    ],
)
def test_a_token_for_anything_else_is_refused_naming_why(
    keys: tuple[rsa.RSAPrivateKey, dict[str, Any]], claims: dict[str, Any], named: str
) -> None:
    private, jwks = keys
    with pytest.raises(IdentityError, match=named.replace("(", r"\(")):
        verify(token(private, **claims), jwks, EXPECTED)


def test_a_token_signed_by_another_key_is_refused(keys: tuple[rsa.RSAPrivateKey, dict[str, Any]]) -> None:
    _, jwks = keys
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(IdentityError, match="does not verify"):
        verify(token(forger), jwks, EXPECTED)  # same kid, wrong key
    with pytest.raises(IdentityError, match="does not verify"):
        verify(token(forger, kid="unknown"), jwks, EXPECTED)


def test_the_proof_asks_the_runner_then_github(keys: tuple[rsa.RSAPrivateKey, dict[str, Any]]) -> None:
    private, jwks = keys
    asked: list[tuple[str, dict[str, str]]] = []

    def fetch(url: str, headers: Mapping[str, str]) -> bytes:
        asked.append((url, dict(headers)))
        if url == JWKS_URL:
            return json.dumps(jwks).encode()
        return json.dumps({"value": token(private)}).encode()

    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": RUNNER_URL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-bearer"}
    assert prove_apply_job(env, EXPECTED, fetch)["run_id"] == "42"
    assert asked[0] == (f"{RUNNER_URL}&audience={AUDIENCE}", {"Authorization": "Bearer runner-bearer"})
    assert asked[1][0] == JWKS_URL


def test_no_token_request_variables_no_proof() -> None:
    def fetch(url: str, headers: Mapping[str, str]) -> bytes:
        raise AssertionError("nothing is fetched without the runner's request variables")

    with pytest.raises(IdentityError, match="id-token: write"):
        prove_apply_job({"CI": "true", "GITHUB_REF": "refs/heads/main"}, EXPECTED, fetch)
