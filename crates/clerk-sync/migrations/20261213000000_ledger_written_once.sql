-- Deduplication needs the svix-ids of Svix's retry window, not the whole ledger. The ledger's
-- primary key on svix_id grew with the retention (30 days by default) and, its keys being spread
-- over the whole index, stopped fitting in memory as the ledger grew: every delivery then read and
-- dirtied a cold index page. The svix-ids received in the last 28 hours (Svix's automatic retries
-- end about 27.6 hours after a message's first attempt) now have a small table of their own,
-- pruned to that window; the ledger becomes an append-only history, written once per event with
-- its final status.
--
-- A svix-id older than the window (a message resent by hand from the Svix dashboard, days later)
-- is looked up in the history by its event time, which it carries unchanged: an index on
-- event_timestamp, whose new keys land at its right edge like received_at's.
create table clerk.recent_svix_ids (
    svix_id     text collate "C" not null,
    received_at timestamptz not null default now(),
    constraint clerk_recent_svix_ids_pkey primary key (svix_id)
);

insert into clerk.recent_svix_ids (svix_id, received_at)
select svix_id, received_at from clerk.webhook_events
where received_at > now() - interval '28 hours';

create index clerk_webhook_events_event_timestamp_idx on clerk.webhook_events (event_timestamp);

alter table clerk.webhook_events drop constraint clerk_webhook_events_pkey;

-- No statement looked rows up by object_id; `where object_id = ...` by hand reads the ledger.
drop index clerk.webhook_events_object_id_idx;

-- The body, 2-3 KB, is compressed on write like the projections' jsonb (see the lz4 migration).
do $$
begin
    if current_setting('server_version_num')::int >= 140000 then
        alter table clerk.webhook_events alter column body set compression lz4;
    end if;
exception when feature_not_supported or invalid_parameter_value then
    null;
end
$$;
