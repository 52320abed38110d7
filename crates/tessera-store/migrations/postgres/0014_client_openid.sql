-- OpenID Connect for applications (issue 18): where RP-Initiated Logout may send the browser
-- back to (newline-separated, like redirect_uris), whether authorization requests must come
-- through pushed authorization requests (RFC 9126), and the public keys of a client that
-- authenticates with private_key_jwt (RFC 7523): a JWK Set as registered, or its URL.
ALTER TABLE client ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE client ADD COLUMN require_par BIGINT NOT NULL DEFAULT 0;
ALTER TABLE client ADD COLUMN jwks TEXT;
ALTER TABLE client ADD COLUMN jwks_uri TEXT;
