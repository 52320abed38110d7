-- Legacy Basic credentials (issue 5): the credentials, their hourly Basic usage, the audit
-- log, and the first-token mark of clients that the removal rule reads.
-- Timestamps are Unix seconds (UTC).

ALTER TABLE client ADD COLUMN first_token_at BIGINT;

CREATE TABLE legacy_credential (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES account (id),
    email               TEXT NOT NULL,
    -- argon2id PHC string; NULL once removed.
    password_hash       TEXT,
    state               TEXT NOT NULL,
    migrated_client_id  TEXT REFERENCES client (id),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    migrated_at         BIGINT,
    removed_at          BIGINT,
    last_used_at        BIGINT
);
-- One live credential per email; removed ones stay for the report and the audit log.
CREATE UNIQUE INDEX legacy_credential_email ON legacy_credential (email) WHERE state <> 'removed';
CREATE INDEX legacy_credential_account_id ON legacy_credential (account_id);

CREATE TABLE legacy_usage (
    credential_id  TEXT NOT NULL REFERENCES legacy_credential (id),
    hour_start     BIGINT NOT NULL,
    requests       BIGINT NOT NULL,
    PRIMARY KEY (credential_id, hour_start)
);
CREATE INDEX legacy_usage_hour_start ON legacy_usage (hour_start);

CREATE TABLE audit_event (
    id             BIGSERIAL PRIMARY KEY,
    at             BIGINT NOT NULL,
    actor          TEXT NOT NULL,
    action         TEXT NOT NULL,
    credential_id  TEXT,
    account_id     TEXT,
    client_id      TEXT,
    detail         TEXT NOT NULL
);
CREATE INDEX audit_event_credential_id ON audit_event (credential_id, id);
