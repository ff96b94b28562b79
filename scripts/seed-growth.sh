#!/usr/bin/env bash
# Fills a migrated clerk-sync database the way a long-running deployment looks, for the growth
# measurement of README "Performance": USERS users and LEDGER ledger rows received over the last
# 29 days (inside the default 30-day retention, so the pruner keeps them), with the svix-ids of
# the last 28 hours in the deduplication window, as the service would have left them.
#
#   scripts/seed-growth.sh DATABASE_URL [USERS=1000000] [LEDGER=10000000]
#
# Bodies are Clerk-shaped user.updated envelopes of about 2.5 KB with random svix-ids (the
# worst case for any index on them); users carry about 1.5 KB of data. The database must have
# the `clerk` schema already (start the service on it once).
set -euo pipefail
url=${1:?usage: $0 DATABASE_URL [USERS] [LEDGER]}
users=${2:-1000000}
ledger=${3:-10000000}
chunk=1000000

psql "$url" -qXv ON_ERROR_STOP=1 -v users="$users" <<'SQL'
insert into clerk.users (id, primary_email, first_name, last_name, created_at, updated_at,
                         data, sync_version, sync_rank, sync_svix_id)
select 'user_seed' || lpad(i::text, 20, '0'), 'seed' || i || '@example.com', 'Seed', 'User' || i,
       now() - interval '300 days', now() - interval '300 days',
       jsonb_build_object('id', 'user_seed' || lpad(i::text, 20, '0'), 'object', 'user',
                          'first_name', 'Seed', 'last_name', 'User' || i, 'updated_at', 0,
                          'public_metadata', jsonb_build_object('note',
                              repeat(md5(i::text) || md5((-i)::text), 12))),
       0, 2, 'msg_seed'
from generate_series(1, :users) as i;
SQL
echo "seeded $users users"

for ((start = 0; start < ledger; start += chunk)); do
  end=$((start + chunk < ledger ? start + chunk : ledger))
  psql "$url" -qXv ON_ERROR_STOP=1 -v lo="$start" -v hi="$end" -v total="$ledger" <<'SQL'
insert into clerk.webhook_events (svix_id, event_type, object_id, event_timestamp, received_at,
                                  status, body)
select 'msg_' || md5(i::text || 'seed'), 'user.updated', 'user_seed' || lpad((i % 1000000)::text, 20, '0'),
       at - interval '20 ms', at, 'applied',
       '{"data":{"id":"user_seed' || lpad((i % 1000000)::text, 20, '0')
         || '","object":"user","first_name":"Seed","last_name":"User","note":"'
         || repeat(md5(i::text), 8) || '","padding":"' || repeat('clerk-sync ', 150)
         || '"},"object":"event","type":"user.updated","timestamp":'
         || (extract(epoch from at) * 1000)::bigint || '}'
from generate_series(:lo, :hi - 1) as i,
     lateral (select now() - interval '29 days' * (1 - i::float8 / :total) as at) as t;
SQL
  echo "seeded ledger rows $start..$end"
done

psql "$url" -qXv ON_ERROR_STOP=1 <<'SQL'
-- Before 0.2's ledger rework (for a before/after comparison) there is no window to fill.
do $$
begin
    if to_regclass('clerk.recent_svix_ids') is not null then
        insert into clerk.recent_svix_ids (svix_id, received_at)
        select svix_id, received_at from clerk.webhook_events
        where received_at > now() - interval '28 hours'
        on conflict do nothing;
    end if;
end
$$;
vacuum analyze clerk.users;
vacuum analyze clerk.webhook_events;
SQL
psql "$url" -XAtc "select relname, n_live_tup, pg_size_pretty(pg_total_relation_size(relid))
                   from pg_stat_user_tables where schemaname = 'clerk' and n_live_tup > 0"
