-- Which Clerk instance (`ins_...`) each projected row came from: the envelope's `instance_id`,
-- or the instance a backfill was told it reads. Nullable: deliveries before this column, older
-- envelopes without the field, and backfills run without an instance id leave it unknown.
--
-- The primary keys stay `id` alone. Clerk ids are random and unique across instances (a
-- development and a production instance never hand out the same `user_...`), so one row per id
-- is right even when two instances share these tables; the column only lets reads keep them
-- apart. Appended after the frame, so each table declares it last (src/store/tables.rs).
alter table clerk.users add column instance_id text;
alter table clerk.sessions add column instance_id text;
alter table clerk.organizations add column instance_id text;
alter table clerk.organization_domains add column instance_id text;
alter table clerk.organization_memberships add column instance_id text;
alter table clerk.organization_invitations add column instance_id text;
alter table clerk.roles add column instance_id text;
alter table clerk.permissions add column instance_id text;
alter table clerk.waitlist_entries add column instance_id text;
alter table clerk.subscriptions add column instance_id text;
alter table clerk.subscription_items add column instance_id text;
alter table clerk.payment_attempts add column instance_id text;
