-- Retry-safe refresh (issue 17): a rotated refresh token keeps, for refresh_retry_window
-- seconds, the token pair its rotation answered, sealed with the master key (AES-256-GCM,
-- bound to the old token's hash), so a client whose response was lost and that retries the
-- same request gets the same pair instead of a reuse revocation. Housekeeping clears it
-- once the window is over; the partial index finds the rows still holding one.
ALTER TABLE refresh_token ADD COLUMN retry_sealed BYTEA;
CREATE INDEX refresh_token_retry ON refresh_token (used_at) WHERE retry_sealed IS NOT NULL;
