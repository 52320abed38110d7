// A relying party on node's openid-client, unmodified: discovery, the code flow with PKCE
// (optionally pushed, RFC 9126), ID token validation, UserInfo and a refresh against a
// running Tessera.
//
// The end-to-end suite runs it (oidc_interop.rs): it prints {"authorization_url"} as one
// JSON line, reads the URL the browser was sent back to from standard input, and prints
// one JSON line with what the library validated. Any failed check throws (exit code 1).
//
//   ISSUER, CLIENT_ID, CLIENT_SECRET or CLIENT_KEY_PKCS8 and CLIENT_KEY_ID, REDIRECT_URI,
//   SCOPE, USE_PAR=1 (environment)

import { createInterface } from 'node:readline';
import * as client from 'openid-client';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const issuer = new URL(env('ISSUER'));
const redirectUri = env('REDIRECT_URI');
// Tessera in the tests listens on plain http at 127.0.0.1; the library refuses that
// unless told, which is the only option set here.
// CLIENT_KEY_PKCS8 (base64 DER, P-256) and CLIENT_KEY_ID: authenticate with private_key_jwt
// (RFC 7523) instead of the secret.
let secret = process.env.CLIENT_SECRET;
let authentication;
if (process.env.CLIENT_KEY_PKCS8) {
  const der = Buffer.from(process.env.CLIENT_KEY_PKCS8, 'base64');
  const key = await crypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
  ]);
  authentication = client.PrivateKeyJwt({ key, kid: env('CLIENT_KEY_ID') });
  secret = undefined;
}
const config = await client.discovery(issuer, env('CLIENT_ID'), secret, authentication, {
  execute: [client.allowInsecureRequests],
});

const verifier = client.randomPKCECodeVerifier();
const nonce = client.randomNonce();
const state = client.randomState();
const parameters = {
  redirect_uri: redirectUri,
  scope: env('SCOPE'),
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  nonce,
  state,
};
// USE_PAR=1: push the request first (RFC 9126) and send only the request_uri.
const url =
  process.env.USE_PAR === '1'
    ? await client.buildAuthorizationUrlWithPAR(config, parameters)
    : client.buildAuthorizationUrl(config, parameters);
console.log(JSON.stringify({ authorization_url: url.href }));

const lines = createInterface({ input: process.stdin });
const [callback] = await lines[Symbol.asyncIterator]().next().then((r) => [r.value]);
lines.close();

const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: verifier,
  expectedNonce: nonce,
  expectedState: state,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
console.log(
  JSON.stringify({
    id_token_claims: claims,
    userinfo,
    refreshed_id_token_claims: refreshed.claims() ?? null,
    refreshed_scope: refreshed.scope ?? null,
  }),
);
