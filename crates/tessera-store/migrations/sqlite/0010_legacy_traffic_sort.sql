-- The console's default order, Basic traffic (issue 15), as a column with an index: each
-- credential's Basic requests of the last 7 days. Every usage flush adds its counts; the
-- server's housekeeping recomputes it from the hourly buckets once an hour, as the window
-- slides. Without it the first page of 100 000 credentials summed the buckets of every
-- credential used in the week. Filled here from the buckets there are (8 days at most);
-- the first housekeeping pass after start-up trims it to the 7-day window.
ALTER TABLE legacy_credential ADD COLUMN basic_requests_7d INTEGER NOT NULL DEFAULT 0;
UPDATE legacy_credential SET basic_requests_7d = COALESCE(
    (SELECT SUM(u.requests) FROM legacy_usage u WHERE u.credential_id = legacy_credential.id), 0);
CREATE INDEX legacy_credential_traffic ON legacy_credential (basic_requests_7d DESC, id);
