-- The operator's migration console (issue 15): Bearer requests per client and day; the
-- day totals its 30-day chart reads (Basic requests of every credential, Bearer requests
-- of the clients credentials were migrated to; the hourly Basic buckets are kept only 8
-- days); and indexes for the console's list, which filters, sorts and pages in SQL.
-- Timestamps are Unix seconds (UTC); a day starts at 00:00 UTC.

CREATE TABLE bearer_usage_daily (
    client_id  TEXT NOT NULL,
    day_start  BIGINT NOT NULL,
    requests   BIGINT NOT NULL,
    PRIMARY KEY (client_id, day_start)
);
CREATE INDEX bearer_usage_daily_day_start ON bearer_usage_daily (day_start);

CREATE TABLE usage_daily (
    day_start        BIGINT PRIMARY KEY,
    basic            BIGINT NOT NULL,
    migrated_bearer  BIGINT NOT NULL
);
-- What the hourly buckets still hold, so the chart does not start empty.
INSERT INTO usage_daily (day_start, basic, migrated_bearer)
    SELECT hour_start - (hour_start % 86400), SUM(requests), 0 FROM legacy_usage
    GROUP BY hour_start - (hour_start % 86400);

CREATE INDEX legacy_credential_email_sort ON legacy_credential (email, id);
CREATE INDEX legacy_credential_last_used ON legacy_credential (last_used_at, id);
CREATE INDEX legacy_credential_state ON legacy_credential (state);
CREATE INDEX legacy_credential_migrated_client ON legacy_credential (migrated_client_id);
CREATE INDEX legacy_credential_created ON legacy_credential (created_at, id);
