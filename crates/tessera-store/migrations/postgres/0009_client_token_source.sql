-- Issue 15: whether a client's tokens came from the Settings Center's Test (the customer
-- tried it) or from anywhere else (an integration uses it). Tokens before this migration
-- are counted in first_token_at only: their source is unknown.
ALTER TABLE client ADD COLUMN first_tested_at BIGINT;
ALTER TABLE client ADD COLUMN first_integration_at BIGINT;
