// A device on node's openid-client, unmodified: the device authorization grant (RFC 8628)
// with DPoP-bound tokens (RFC 9449) against a running Tessera, as a public client.
//
// The end-to-end suite runs it (device_interop.rs): it prints the device authorization
// response's user-facing part as one JSON line, waits for a line on standard input (the
// user approved on the verification page), then polls, calls the sample API with the
// DPoP-bound token, refreshes (the refresh token is bound to the same key), calls again,
// and prints one JSON line with what it got. Any failed check throws (exit code 1).
//
//   ISSUER, CLIENT_ID, SCOPE (environment)

import { createInterface } from 'node:readline';
import * as client from 'openid-client';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const issuer = new URL(env('ISSUER'));
// Tessera in the tests listens on plain http at 127.0.0.1; the library refuses that
// unless told, which is the only option set here.
const config = await client.discovery(issuer, env('CLIENT_ID'), undefined, client.None(), {
  execute: [client.allowInsecureRequests],
});
const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));

const asked = await client.initiateDeviceAuthorization(config, { scope: env('SCOPE') });
console.log(
  JSON.stringify({
    user_code: asked.user_code,
    verification_uri: asked.verification_uri,
    verification_uri_complete: asked.verification_uri_complete,
    interval: asked.interval,
  }),
);

const lines = createInterface({ input: process.stdin });
await lines[Symbol.asyncIterator]().next();

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
const books = async (accessToken) => {
  const url = new URL('/v1/books', issuer);
  const res = await client.fetchProtectedResource(config, accessToken, url, 'GET', undefined, undefined, {
    DPoP: dpop,
  });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return res.status;
};

const tokens = await client.pollDeviceAuthorizationGrant(config, asked, undefined, { DPoP: dpop });
const booksStatus = await books(tokens.access_token);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: dpop });
const againStatus = await books(refreshed.access_token);

console.log(
  JSON.stringify({
    token_type: tokens.token_type,
    scope: tokens.scope,
    jkt: claims(tokens.access_token).cnf?.jkt ?? null,
    books_status: booksStatus,
    refreshed_token_type: refreshed.token_type,
    refreshed_jkt: claims(refreshed.access_token).cnf?.jkt ?? null,
    after_refresh_status: againStatus,
  }),
);
