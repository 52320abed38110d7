-- Leases (issue 17): work that must run once per cluster (pruning the store, the hourly
-- traffic recount, scheduled key rotation) is done by the replica holding its lease. The
-- holder renews it each time it does the work; a replica that dies stops renewing, and
-- another takes the lease over once expires_at has passed. A graceful shutdown deletes it.
CREATE TABLE lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
