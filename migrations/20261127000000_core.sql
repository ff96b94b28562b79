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
    constraint webhook_events_status_check check (status in ('applied', 'stale', 'unhandled'))
);

create index webhook_events_received_at_idx on clerk.webhook_events (received_at);
create index webhook_events_object_id_idx on clerk.webhook_events (object_id);

-- Users as of the newest event applied. A deleted user keeps its row with deleted_at set.
create table clerk.users (
    id            text primary key,
    primary_email text,
    username      text,
    first_name    text,
    last_name     text,
    image_url     text,
    external_id   text,
    created_at    timestamptz,
    updated_at    timestamptz,
    data          jsonb not null,
    deleted_at    timestamptz,
    synced_at     timestamptz not null default now()
);

-- Emails are not unique in Clerk (and an old row may still hold an address a new user took).
create index users_primary_email_idx on clerk.users (lower(primary_email));
create index users_external_id_idx on clerk.users (external_id);
