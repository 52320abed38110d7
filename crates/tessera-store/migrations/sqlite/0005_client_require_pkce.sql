-- Per-application PKCE (RFC 9700 §2.1.1): 1 refuses authorization requests of this client
-- without a code_challenge, whatever the server-wide require_pkce says. Existing clients: 0.
ALTER TABLE client ADD COLUMN require_pkce INTEGER NOT NULL DEFAULT 0;
