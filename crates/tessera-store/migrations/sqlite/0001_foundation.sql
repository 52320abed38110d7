-- Foundation: API accounts, scopes, clients, signing keys, revocations, the change feed and
-- the sample API's books. Timestamps are Unix seconds (UTC); booleans are 0/1.

CREATE TABLE account (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE scope (
    name         TEXT PRIMARY KEY,
    description  TEXT NOT NULL
);

INSERT INTO scope (name, description) VALUES
    ('account:read',  'See your account details'),
    ('account:write', 'Change your account details'),
    ('books:read',    'Read your books and their documents'),
    ('books:write',   'Upload new books');

CREATE TABLE client (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    account_id     TEXT REFERENCES account (id),
    grant_types    TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    redirect_uris  TEXT NOT NULL,
    status         TEXT NOT NULL,
    public         INTEGER NOT NULL,
    approved       INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX client_account_id ON client (account_id);

CREATE TABLE client_secret (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id    TEXT NOT NULL REFERENCES client (id),
    secret_hash  BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER
);
CREATE INDEX client_secret_client_id ON client_secret (client_id);

CREATE TABLE signing_key (
    kid                 TEXT PRIMARY KEY,
    alg                 TEXT NOT NULL,
    public_key          BLOB NOT NULL,
    public_jwk          TEXT NOT NULL,
    private_key_sealed  BLOB NOT NULL,
    created_at          INTEGER NOT NULL,
    activates_at        INTEGER NOT NULL
);

CREATE TABLE revoked_token (
    jti         TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL
);
CREATE INDEX revoked_token_expires_at ON revoked_token (expires_at);

CREATE TABLE change_event (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE book (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES account (id),
    name        TEXT NOT NULL,
    documents   TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX book_account_id ON book (account_id, created_at);
