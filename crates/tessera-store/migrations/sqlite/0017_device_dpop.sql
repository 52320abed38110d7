-- The device authorization grant (RFC 8628, issue 19): one row per device_authorization
-- request, found by the device code (the client's secret, stored by SHA-256) when the
-- device polls, and by the user code (also by SHA-256) when the user types it. A row is
-- pending until the user approves or denies it, and spent by the one token response it
-- yields. The token set an approval starts is chosen up front, as for codes.
CREATE TABLE device_authorization (
    device_code_hash  BLOB PRIMARY KEY,
    user_code_hash    BLOB NOT NULL UNIQUE,
    client_id         TEXT NOT NULL,
    scopes            TEXT NOT NULL,
    status            TEXT NOT NULL,
    user_id           TEXT,
    account_id        TEXT,
    granted_scopes    TEXT,
    auth_time         INTEGER,
    token_set_id      TEXT NOT NULL,
    poll_interval     INTEGER NOT NULL,
    last_polled_at    INTEGER,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    used_at           INTEGER
);
CREATE INDEX device_authorization_expiry ON device_authorization (expires_at);

-- DPoP (RFC 9449, issue 19): the jti of every proof the token endpoint accepted, by
-- SHA-256 of the key thumbprint and jti, kept until the proof could no longer pass the iat
-- window, so a proof is used once on any replica.
CREATE TABLE dpop_proof (
    proof_hash  BLOB PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX dpop_proof_expiry ON dpop_proof (expires_at);

-- Applications and credential clients that must use DPoP (dpop_bound_access_tokens), and
-- the key a public client's token set is bound to (its refresh tokens need a proof with it).
ALTER TABLE client ADD COLUMN dpop_bound INTEGER NOT NULL DEFAULT 0;
ALTER TABLE token_set ADD COLUMN dpop_jkt TEXT;
