-- Clerk data lives in its own schema, so it never collides with the application's tables.
create schema if not exists clerk;

-- Clerk sends times as Unix milliseconds.
create function clerk.from_millis(ms bigint) returns timestamptz
    language sql immutable strict parallel safe
    as $$ select to_timestamp(ms / 1000.0) $$;

-- The ledger: one row per Svix message, whatever its type. The svix-id is the same for every
-- retry of an event, so the primary key makes redelivery a no-op.
create table clerk.webhook_events (
    svix_id         text primary key,
    event_type      text not null,
    object_id       text,
    instance_id     text,
    event_timestamp timestamptz,
    received_at     timestamptz not null default now(),
    status          text not null,
    payload         jsonb not null,
    constraint webhook_events_status_check check (status in ('applied', 'stale', 'recorded', 'unhandled'))
);

create index webhook_events_received_at_idx on clerk.webhook_events (received_at);
create index webhook_events_object_id_idx on clerk.webhook_events (object_id);

-- The columns every projection ends with, copied with `like`; this table itself stays empty.
-- `data` is the latest applied payload, `deleted_at` is set once deleted (rows are kept), and
-- (`sync_version` = the payload's updated_at in ms, `sync_rank`, `sync_svix_id`) is the ordering
-- key that out-of-order deliveries are compared against. See src/store/projection.rs.
create table clerk.projection_frame (
    data         jsonb not null,
    deleted_at   timestamptz,
    synced_at    timestamptz not null default now(),
    sync_version bigint,
    sync_rank    smallint,
    sync_svix_id text
);

create table clerk.users (
    id                   text primary key,
    primary_email        text,
    primary_phone_number text,
    username             text,
    first_name           text,
    last_name            text,
    image_url            text,
    external_id          text,
    banned               boolean,
    last_sign_in_at      timestamptz,
    last_active_at       timestamptz,
    created_at           timestamptz,
    updated_at           timestamptz,
    like clerk.projection_frame including defaults
);

-- Emails are not unique in Clerk's history (a deleted user's address can be reused).
create index users_primary_email_idx on clerk.users (lower(primary_email));
create index users_external_id_idx on clerk.users (external_id);
