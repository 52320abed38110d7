-- Housekeeping deletes refresh tokens spent longer ago than the retention (30 days), which
-- before kept one row per rotation forever; this index finds them. Spending a token adds
-- its entry at the right edge (used_at only grows), beside the other rotations of its
-- commit.
CREATE INDEX refresh_token_spent ON refresh_token (used_at) WHERE used_at IS NOT NULL;
