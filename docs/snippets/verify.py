"""Verify a Tessera access token in your API: PyJWT and its PyJWKClient.

pip install "pyjwt[crypto]"        Try it: echo "$TOKEN" | python verify.py books:read
"""

import json
import os
import sys

import jwt

ISSUER = os.environ.get("TESSERA_ISSUER", "https://auth.example.com")
# Where your API fetches Tessera's keys (the issuer's, or Tessera's address on your network).
JWKS_URL = os.environ.get("TESSERA_JWKS_URL", ISSUER + "/.well-known/jwks.json")
# Tessera's `audience` setting; for the gateway's internal JWT, your upstream URL.
AUDIENCE = os.environ.get("API_AUDIENCE", "https://api.example.com")

jwks = jwt.PyJWKClient(JWKS_URL)  # fetches the keys once, again for an unknown kid


def verify(token: str) -> dict:
    """The token's claims, or jwt.InvalidTokenError."""
    # RFC 9068 §4: an access token says so in its header.
    if jwt.get_unverified_header(token).get("typ", "").lower() != "at+jwt":
        raise jwt.InvalidTokenError("not an access token (typ must be at+jwt)")
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["ES256", "EdDSA"],  # never "none" or HMAC
        issuer=ISSUER,
        audience=AUDIENCE,
        options={"require": ["exp", "iss", "aud", "sub", "scope"]},
    )


def has_scope(claims: dict, scope: str) -> bool:
    return scope in claims["scope"].split()


if __name__ == "__main__":
    try:
        claims = verify(sys.stdin.read().strip())
    except (jwt.InvalidTokenError, jwt.PyJWKClientError) as error:
        sys.exit(f"rejected: {error}")
    for scope in sys.argv[1:]:
        if not has_scope(claims, scope):
            sys.exit(f"rejected: the token lacks the scope {scope}")
    print(json.dumps({name: claims.get(name) for name in ("sub", "client_id", "scope")}))
