-- A known event type whose payload a version could not read is kept, as `failed`, so a fixed
-- version can apply it with `clerk-sync replay --failed`.
alter table clerk.webhook_events
    drop constraint webhook_events_status_check,
    add constraint webhook_events_status_check
        check (status in ('applied', 'stale', 'recorded', 'unhandled', 'failed'));

-- What `replay --failed` reads: few rows, so a small partial index keeps it off the full ledger.
create index webhook_events_not_projected_idx on clerk.webhook_events (received_at)
    where status in ('failed', 'unhandled');
