-- The audit log covers every administrative action (issue 16), not only legacy
-- credentials: what the action was done to (a kind and an id) and how it ended. Rows
-- written before were all about legacy credentials.
ALTER TABLE audit_event ADD COLUMN target_kind TEXT NOT NULL DEFAULT 'legacy';
ALTER TABLE audit_event ADD COLUMN target_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_event ADD COLUMN outcome TEXT NOT NULL DEFAULT 'ok';
UPDATE audit_event
   SET target_id = COALESCE(credential_id, ''),
       outcome = CASE action WHEN 'legacy.removal_refused' THEN 'refused' ELSE 'ok' END;
UPDATE audit_event SET actor = 'system' WHERE actor = 'basic-auth';
CREATE INDEX audit_event_target_id ON audit_event (target_id, id);
CREATE INDEX audit_event_at ON audit_event (at);
