-- Pushed authorization requests (RFC 9126, issue 18): a client posts its authorization
-- request first and gets a request_uri (stored by SHA-256, like codes) that stands for it
-- at the authorization endpoint for a minute, for that client only, and is spent by the
-- authorization it completes.
CREATE TABLE pushed_request (
    id_hash     BLOB PRIMARY KEY,
    client_id   TEXT NOT NULL,
    params      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX pushed_request_expiry ON pushed_request (expires_at);
