-- A user the operator disabled (`tessera user disable`): refused at sign-in until enabled
-- again. Disabling also ends their sessions, revokes their token sets and spends their
-- pending codes and device approvals, in the same transaction.
ALTER TABLE app_user ADD COLUMN disabled_at INTEGER;
