// Verify a Tessera access token in your API: jose's createRemoteJWKSet and jwtVerify.
//
// npm install jose                  Try it: echo "$TOKEN" | node verify.mjs books:read
import { fileURLToPath } from "node:url";
import { createRemoteJWKSet, jwtVerify } from "jose";

const ISSUER = process.env.TESSERA_ISSUER ?? "https://auth.example.com";
// Where your API fetches Tessera's keys (the issuer's, or Tessera's address on your network).
const JWKS_URL = process.env.TESSERA_JWKS_URL ?? `${ISSUER}/.well-known/jwks.json`;
// Tessera's `audience` setting; for the gateway's internal JWT, your upstream URL.
const AUDIENCE = process.env.API_AUDIENCE ?? "https://api.example.com";

const jwks = createRemoteJWKSet(new URL(JWKS_URL)); // cached, refetched for an unknown kid

// The token's claims; throws if the token is not valid here.
export async function verify(token) {
  const { payload } = await jwtVerify(token, jwks, {
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ["ES256", "EdDSA"], // never "none" or HMAC
    typ: "at+jwt", // RFC 9068 §4: an access token says so in its header
    requiredClaims: ["exp", "sub", "scope"],
  });
  return payload;
}

export function hasScope(claims, scope) {
  return claims.scope.split(" ").includes(scope);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  try {
    const claims = await verify(input.trim());
    for (const scope of process.argv.slice(2)) {
      if (!hasScope(claims, scope)) throw new Error(`the token lacks the scope ${scope}`);
    }
    const { sub, client_id, scope } = claims;
    console.log(JSON.stringify({ sub, client_id, scope }));
  } catch (error) {
    console.error(`rejected: ${error.message}`);
    process.exit(1);
  }
}
