-- The authorization code flow: users, sessions, consents, codes, token sets and rotating
-- refresh tokens. Secrets (session ids, codes, refresh tokens) are stored as SHA-256 only.

CREATE TABLE app_user (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    operator       BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE user_account (
    user_id     TEXT NOT NULL REFERENCES app_user (id),
    account_id  TEXT NOT NULL REFERENCES account (id),
    PRIMARY KEY (user_id, account_id)
);

CREATE TABLE session (
    id_hash       BYTEA PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES app_user (id),
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL
);

CREATE TABLE consent (
    user_id     TEXT NOT NULL REFERENCES app_user (id),
    client_id   TEXT NOT NULL REFERENCES client (id),
    account_id  TEXT NOT NULL REFERENCES account (id),
    scopes      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, account_id)
);

CREATE TABLE authorization_code (
    code_hash          BYTEA PRIMARY KEY,
    client_id          TEXT NOT NULL REFERENCES client (id),
    redirect_uri       TEXT NOT NULL,
    redirect_uri_sent  BIGINT NOT NULL,
    user_id            TEXT NOT NULL REFERENCES app_user (id),
    account_id         TEXT NOT NULL REFERENCES account (id),
    scopes             TEXT NOT NULL,
    code_challenge     TEXT,
    token_set_id       TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    used_at            BIGINT
);

CREATE TABLE token_set (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES client (id),
    user_id     TEXT NOT NULL REFERENCES app_user (id),
    account_id  TEXT NOT NULL REFERENCES account (id),
    scopes      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX token_set_revoked_at ON token_set (revoked_at);
CREATE INDEX token_set_client_user ON token_set (client_id, user_id);

CREATE TABLE refresh_token (
    token_hash         BYTEA PRIMARY KEY,
    token_set_id       TEXT NOT NULL REFERENCES token_set (id),
    created_at         BIGINT NOT NULL,
    used_at            BIGINT,
    access_jti         TEXT NOT NULL,
    access_expires_at  BIGINT NOT NULL
);
CREATE INDEX refresh_token_token_set_id ON refresh_token (token_set_id);
