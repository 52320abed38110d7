-- private_key_jwt (RFC 7523, issue 18): each client assertion's jti, kept until the
-- assertion expires, so that one can be used once, on any replica.
CREATE TABLE client_assertion (
    client_id   TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertion_expiry ON client_assertion (expires_at);
