-- Where `clerk-sync backfill` is in each listing of the Clerk Backend API, committed with the
-- page it follows, so an interrupted backfill resumes where it stopped.
create table clerk.backfill_cursors (
    resource    text primary key,
    next_offset bigint not null default 0,
    last_id     text,
    started_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    finished_at timestamptz
);
