-- Every constraint gets a name of our choosing, starting with `clerk_`: Postgres names a violated
-- constraint without its schema, and an application's own `users` table has a `users_pkey` too.
-- Constraints added later are named where they are created.
--
-- Primary keys were named by Postgres: each is found by its table and kind, not by that name.
-- (Renaming a primary key renames its index too.)
do $$
declare
    target regclass;
    old_name name;
begin
    foreach target in array array[
        'clerk.webhook_events', 'clerk.backfill_cursors', 'clerk.users', 'clerk.sessions',
        'clerk.organizations', 'clerk.organization_domains', 'clerk.organization_memberships',
        'clerk.organization_invitations', 'clerk.roles', 'clerk.permissions',
        'clerk.waitlist_entries', 'clerk.subscriptions', 'clerk.subscription_items',
        'clerk.payment_attempts'
    ]::regclass[]
    loop
        select conname into strict old_name from pg_constraint
        where conrelid = target and contype = 'p';
        execute format('alter table %s rename constraint %I to %I', target, old_name,
                       'clerk_' || (select relname from pg_class where oid = target) || '_pkey');
    end loop;
end
$$;

-- The ledger's checks were named by us, after Postgres's pattern; now after what they require.
alter table clerk.webhook_events
    rename constraint webhook_events_status_check to clerk_webhook_events_status_known;
alter table clerk.webhook_events
    rename constraint webhook_events_body_check to clerk_webhook_events_body_or_payload;
