-- The `created_at` (Unix ms, as Clerk sends it) of the cursor's last object. Listings are
-- ordered by `created_at`, so when that object is deleted in Clerk before a backfill resumes,
-- its time still tells where the new objects start.
alter table clerk.backfill_cursors add column last_created_at bigint;
