"""A relying party on Python's Authlib, unmodified: discovery, the code flow with PKCE, ID
token validation (signature, iss, aud, exp, nonce and at_hash), UserInfo and a refresh
against a running Tessera.

The end-to-end suite runs it (oidc_interop.rs): it prints {"authorization_url"} as one JSON
line, reads the URL the browser was sent back to from standard input, and prints one JSON
line with what the library validated. Any failed check raises (exit code 1).

    ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, SCOPE (environment)
"""

import json
import os
import sys
import warnings

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

# authlib.jose is deprecated in favour of joserfc, yet it is what Authlib's own OpenID
# Connect claims classes are built on; the warning says nothing about Tessera.
warnings.simplefilter("ignore")
from authlib.jose import JsonWebKey, jwt  # noqa: E402
from authlib.oidc.core import CodeIDToken  # noqa: E402

issuer = os.environ["ISSUER"]
client_id = os.environ["CLIENT_ID"]
meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
assert meta["issuer"] == issuer, meta["issuer"]

session = OAuth2Session(
    client_id,
    os.environ["CLIENT_SECRET"],
    scope=os.environ["SCOPE"],
    redirect_uri=os.environ["REDIRECT_URI"],
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic",
)
verifier = generate_token(48)
nonce = generate_token(20)
url, state = session.create_authorization_url(
    meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
)
print(json.dumps({"authorization_url": url}), flush=True)

callback = sys.stdin.readline().strip()
token = session.fetch_token(
    meta["token_endpoint"],
    authorization_response=callback,
    code_verifier=verifier,
    state=state,
)
keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())


def validated(id_token, access_token, expected_nonce):
    claims = jwt.decode(
        id_token,
        keys,
        claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "values": [issuer]}},
        claims_params={
            "nonce": expected_nonce,
            "client_id": client_id,
            "access_token": access_token,
        },
    )
    claims.validate(leeway=5)
    return dict(claims)


claims = validated(token["id_token"], token["access_token"], nonce)
userinfo = session.get(meta["userinfo_endpoint"]).json()
refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
refreshed_claims = validated(refreshed["id_token"], refreshed["access_token"], None)
print(
    json.dumps(
        {
            "id_token_claims": claims,
            "userinfo": userinfo,
            "refreshed_id_token_claims": refreshed_claims,
            "refreshed_scope": refreshed.get("scope"),
        }
    ),
    flush=True,
)
