-- When a client last obtained a token (written at most once a minute per client and server).
ALTER TABLE client ADD COLUMN last_token_at INTEGER;
