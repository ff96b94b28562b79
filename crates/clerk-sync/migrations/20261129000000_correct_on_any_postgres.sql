-- The svix-id breaks ties between payloads of one object with the same time and rank. Rust
-- compares it byte by byte; so must Postgres, whatever the database's collation (ICU and
-- en_US order 'a' before 'B', bytes do not). Only the tie-break column changes: no index uses it.
do $$
declare
    target record;
begin
    for target in
        select table_schema, table_name from information_schema.columns
        where table_schema = 'clerk' and column_name = 'sync_svix_id'
    loop
        execute format('alter table %I.%I alter column sync_svix_id type text collate "C"',
                       target.table_schema, target.table_name);
    end loop;
end
$$;

-- A delivery Postgres refuses to store as it is (a lone UTF-16 surrogate escape, a number past
-- `numeric`, a time past `timestamptz`) is kept as `failed` with its reason, its body as text
-- (text takes what jsonb refuses), so it is answered 200 and replayable once fixed. New rows
-- keep the body as text, which also spares Postgres a jsonb parse per event; older rows keep
-- their jsonb `payload`. Readers take `coalesce(body, payload::text)`.
alter table clerk.webhook_events
    add column body text,
    add column failure_reason text,
    alter column payload drop not null,
    add constraint webhook_events_body_check check (body is not null or payload is not null) not valid;
