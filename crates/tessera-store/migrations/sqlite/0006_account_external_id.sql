-- The provider's own id of an API account (`tessera account create --external-id`,
-- `tessera account import`): unique when present; existing accounts have none (NULL, which
-- never conflicts).
ALTER TABLE account ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX account_external_id ON account (external_id);
