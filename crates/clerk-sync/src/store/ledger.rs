//! `clerk.webhook_events`: one row per Svix message.

use std::sync::OnceLock;
use std::time::Duration;

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Row as _};

use super::projection::LockKey;
use super::{Outcome, Tx};
use crate::config::MIN_RETENTION;
use crate::delivery::Delivery;

/// How long a svix-id stays in `clerk.recent_svix_ids`: Svix's automatic retries of a message
/// end about 27.6 hours after its first attempt. Older svix-ids are looked up in the ledger.
pub const DEDUP_WINDOW: Duration = MIN_RETENTION;

/// How far Clerk's clock may run behind ours: an event that says it happened less than
/// [`DEDUP_WINDOW`] minus this ago cannot have been received before the window began.
const CLOCK_SKEW: Duration = Duration::from_secs(3600);

/// Envelope times (Unix ms) that `timestamptz` holds; others cannot be in the ledger's
/// `event_timestamp`.
const STORABLE_MILLIS: std::ops::RangeInclusive<i64> = -200_000_000_000_000..=8_000_000_000_000_000;

/// Claims the svix-ids of `webhooks` (distinct): returns those never stored before. Each is added
/// to `clerk.recent_svix_ids`, so a concurrent delivery of the same svix-id waits on its key until
/// this transaction commits (then it is a duplicate) or rolls back. An event older than the
/// window may have been stored before the window began: the ledger is asked about those, by
/// their event time.
///
/// In the same statement, which saves a round trip a batch, takes the row locks of the
/// deliveries it claims (`locks`, each with the svix-id of the delivery that needs it), as
/// [`take_locks`](super::projection::take_locks) does: the rows those deliveries write are read
/// only by later statements, which see every transaction that held the locks before.
pub async fn claim(
    tx: &mut Tx<'_>,
    webhooks: &[&Delivery],
    locks: &[(&str, &LockKey)],
) -> Result<Vec<String>, sqlx::Error> {
    static SQL: OnceLock<String> = OnceLock::new();
    let sql = SQL.get_or_init(|| {
        format!(
            "with {} select svix_id from claimed where (select count(*) from locked) >= 0",
            claim_ctes(1, "true")
        )
    });
    let mut new: Vec<String> = bind_claim(sqlx::query(sql), webhooks, locks)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();

    let (old_ids, old_times): (Vec<&str>, Vec<i64>) = webhooks
        .iter()
        .filter_map(|w| Some((w.svix_id(), predates_window(w)?)))
        .filter(|(id, _)| new.iter().any(|n| n == id))
        .unzip();
    if old_ids.is_empty() {
        return Ok(new);
    }
    let stored = sqlx::query_scalar!(
        r#"select v.svix_id as "svix_id!"
           from unnest($1::text[], $2::bigint[]) as v(svix_id, at)
           where exists (select from clerk.webhook_events e
                         where e.event_timestamp = clerk.from_millis(v.at)
                           and e.svix_id = v.svix_id)"#,
        &old_ids as &[&str],
        &old_times as &[i64],
    )
    .fetch_all(&mut **tx)
    .await?;
    new.retain(|id| !stored.contains(id));
    Ok(new)
}

/// The CTEs `claimed` (the svix-ids of parameter `$first` that were new, now added to
/// `clerk.recent_svix_ids`, if `condition` holds) and `locked` (the advisory locks of parameters
/// `$first + 1` to `$first + 3`, of the claimed deliveries only, in key order, so writers cannot
/// deadlock on them; `hashtextextended` is Postgres's, so every instance agrees on the keys).
/// `locked` reads `claimed`, so the keys are inserted first; a statement that reads `locked`
/// runs it.
pub(crate) fn claim_ctes(first: usize, condition: &str) -> String {
    let (ids, owners, keys, exclusive) = (first, first + 1, first + 2, first + 3);
    format!(
        "claimed as (
             insert into clerk.recent_svix_ids (svix_id)
             select v.svix_id from unnest(${ids}::text[]) as v(svix_id)
             where {condition}
             order by v.svix_id
             on conflict (svix_id) do nothing
             returning svix_id
         ), locked as (
             select case when x then pg_advisory_xact_lock(h)
                         else pg_advisory_xact_lock_shared(h) end
             from (select hashtextextended(l.k, 0) as h, bool_or(l.x) as x
                   from unnest(${owners}::text[], ${keys}::text[], ${exclusive}::boolean[])
                       as l(owner, k, x)
                   where l.owner in (select svix_id from claimed)
                   group by 1 order by 1) s
         )"
    )
}

/// Binds the parameters of [`claim_ctes`]: the svix-ids of `webhooks`, and `locks`, each with
/// the svix-id of the delivery that needs it.
pub(crate) fn bind_claim<'q>(
    query: Query<'q, Postgres, PgArguments>,
    webhooks: &[&'q Delivery],
    locks: &[(&'q str, &'q LockKey)],
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(webhooks.iter().map(|w| w.svix_id()).collect::<Vec<_>>())
        .bind(locks.iter().map(|(owner, _)| *owner).collect::<Vec<_>>())
        .bind(
            locks
                .iter()
                .map(|(_, lock)| lock.key.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            locks
                .iter()
                .map(|(_, lock)| lock.exclusive)
                .collect::<Vec<_>>(),
        )
}

/// The event time of a delivery that may have been stored before the deduplication window
/// began, which the ledger is asked about; `None` for the others (live traffic).
pub(crate) fn predates_window(webhook: &Delivery) -> Option<i64> {
    let window_began = super::now_millis() - (DEDUP_WINDOW - CLOCK_SKEW).as_millis() as i64;
    let at = webhook.envelope().occurred_at_millis()?;
    (at < window_began && STORABLE_MILLIS.contains(&at)).then_some(at)
}

/// Ledger rows to write: one per claimed delivery, with what applying it did.
#[derive(Default)]
pub struct Recorded<'a> {
    svix_ids: Vec<&'a str>,
    event_types: Vec<&'a str>,
    object_ids: Vec<Option<&'a str>>,
    instance_ids: Vec<Option<&'a str>>,
    at: Vec<Option<i64>>,
    statuses: Vec<&'static str>,
    bodies: Vec<&'a str>,
    changed_rows: Vec<Option<&'a str>>,
}

impl<'a> Recorded<'a> {
    /// Rows for `deliveries`, each with its outcome and, when the statement that carries the
    /// insert writes a row for it, that row's id: if that write changes the row, the delivery
    /// is `applied` whatever the outcome says.
    pub fn new(
        deliveries: impl IntoIterator<Item = (&'a Delivery, Outcome, Option<&'a str>)>,
    ) -> Self {
        let mut rows = Self::default();
        for (webhook, outcome, changed_row) in deliveries {
            let envelope = webhook.envelope();
            rows.svix_ids.push(webhook.svix_id());
            rows.event_types.push(&envelope.event_type);
            rows.object_ids.push(webhook.object_id());
            rows.instance_ids.push(envelope.instance_id.as_deref());
            rows.at.push(envelope.occurred_at_millis());
            rows.statuses.push(outcome.as_str());
            rows.bodies.push(webhook.body());
            rows.changed_rows.push(changed_row);
        }
        rows
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.svix_ids.is_empty()
    }

    /// Binds the rows, as the parameters [`insert_sql`] reads.
    pub(crate) fn bind<'q>(
        self,
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments>
    where
        'a: 'q,
    {
        query
            .bind(self.svix_ids)
            .bind(self.event_types)
            .bind(self.object_ids)
            .bind(self.instance_ids)
            .bind(self.at)
            .bind(self.statuses)
            .bind(self.bodies)
            .bind(self.changed_rows)
    }
}

/// The statement that writes [`Recorded`] rows bound from parameter `$first` on. With `changed`,
/// the name of a CTE of the same statement returning the ids its write changed, a row whose
/// changed row is among them is `applied`. With `claimed`, a CTE of [`claim_ctes`], it writes
/// only the claimed deliveries' rows and returns their svix-ids and statuses.
pub(crate) fn insert_sql(first: usize, changed: Option<&str>, claimed: Option<&str>) -> String {
    let status = match changed {
        Some(cte) => format!(
            "case when v.changed_row in (select id from {cte}) then 'applied' else v.status end"
        ),
        None => "v.status".to_owned(),
    };
    let p: Vec<String> = (first..first + 8).map(|i| format!("${i}")).collect();
    format!(
        "insert into clerk.webhook_events
             (svix_id, event_type, object_id, instance_id, event_timestamp, status, body)
         select v.svix_id, v.event_type, v.object_id, v.instance_id, clerk.from_millis(v.at),
                {status}, v.body
         from unnest({}::text[], {}::text[], {}::text[], {}::text[], {}::bigint[], {}::text[],
                     {}::text[], {}::text[])
             as v(svix_id, event_type, object_id, instance_id, at, status, body, changed_row)
         {only}",
        p[0],
        p[1],
        p[2],
        p[3],
        p[4],
        p[5],
        p[6],
        p[7],
        only = match claimed {
            Some(cte) => {
                format!("where v.svix_id in (select svix_id from {cte}) returning svix_id, status")
            }
            None => String::new(),
        },
    )
}

/// Writes ledger rows on their own, when no statement of the batch carried them.
pub async fn insert(tx: &mut Tx<'_>, rows: Recorded<'_>) -> Result<(), sqlx::Error> {
    static SQL: OnceLock<String> = OnceLock::new();
    if rows.is_empty() {
        return Ok(());
    }
    let sql = SQL.get_or_init(|| insert_sql(1, None, None));
    rows.bind(sqlx::query(sql)).execute(&mut **tx).await?;
    Ok(())
}

/// Keeps a delivery that Postgres refused to store as it is (see [`crate::db::Failure`]) as
/// `failed`, with the reason, so it is acknowledged and `clerk-sync replay --failed` can apply it
/// once a fix allows. Only the body (as text, which takes what `jsonb` refuses) and a Clerk id
/// are stored; an envelope time outside what `timestamptz` holds is left out. Returns whether
/// the svix-id is new.
pub async fn insert_failed(
    tx: &mut Tx<'_>,
    webhook: &Delivery,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    if claim(tx, &[webhook], &[]).await?.is_empty() {
        return Ok(false);
    }
    let envelope = webhook.envelope();
    let at = envelope
        .occurred_at_millis()
        .filter(|at| STORABLE_MILLIS.contains(at));
    sqlx::query!(
        "insert into clerk.webhook_events
             (svix_id, event_type, object_id, instance_id, event_timestamp, status, body,
              failure_reason)
         values ($1, $2, $3, $4, clerk.from_millis($5), 'failed', $6, $7)",
        webhook.svix_id(),
        envelope.event_type.as_str(),
        webhook.object_id(),
        envelope.instance_id.as_deref(),
        at,
        webhook.body(),
        reason,
    )
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Where a row stands in the ledger's `(received_at, svix_id)` order. Group commits give many
/// rows one `received_at`, so the svix-id breaks ties.
#[derive(Debug, Clone)]
pub struct Position {
    /// `received_at` as Postgres prints it (read back exactly, unlike a float).
    pub received_at: String,
    /// The svix-id.
    pub svix_id: String,
}

/// A stored delivery, as a replay reads it.
#[derive(Debug)]
pub struct StoredEvent {
    /// Its place in the ledger.
    pub position: Position,
    /// The body as stored.
    pub payload: String,
}

/// Which ledger rows a statement reads or changes. Each is its own fixed statement (checked at
/// compile time), so `Unprojected` keeps the partial index on those statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Every row.
    All,
    /// The rows stored but not projected, `failed` or `unhandled`: what `replay --failed` picks
    /// up.
    Unprojected,
}

/// Rows of `rows` received at or after `since` (a `timestamptz` literal).
pub async fn count_since(pool: &PgPool, since: &str, rows: Rows) -> Result<i64, sqlx::Error> {
    match rows {
        Rows::All => {
            sqlx::query_scalar!(
                r#"select count(*) as "count!" from clerk.webhook_events
                   where received_at >= $1::text::timestamptz"#,
                since,
            )
            .fetch_one(pool)
            .await
        }
        Rows::Unprojected => {
            sqlx::query_scalar!(
                r#"select count(*) as "count!" from clerk.webhook_events
                   where received_at >= $1::text::timestamptz
                     and status in ('failed', 'unhandled')"#,
                since,
            )
            .fetch_one(pool)
            .await
        }
    }
}

/// A ledger row as [`page_after`] reads it.
struct PageRow {
    received_at: String,
    svix_id: String,
    payload: String,
}

/// Up to `limit` of `rows` after `after`, in `(received_at, svix_id)` order.
pub async fn page_after(
    pool: &PgPool,
    after: &Position,
    rows: Rows,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let limit = limit.max(1);
    let page = match rows {
        Rows::All => {
            sqlx::query_as!(
                PageRow,
                r#"select received_at::text as "received_at!", svix_id,
                          coalesce(body, payload::text) as "payload!"
                   from clerk.webhook_events
                   where received_at >= $1::text::timestamptz
                     and (received_at, svix_id) > ($1::text::timestamptz, $2)
                   order by received_at, svix_id
                   limit $3"#,
                after.received_at,
                after.svix_id,
                limit,
            )
            .fetch_all(pool)
            .await?
        }
        Rows::Unprojected => {
            sqlx::query_as!(
                PageRow,
                r#"select received_at::text as "received_at!", svix_id,
                          coalesce(body, payload::text) as "payload!"
                   from clerk.webhook_events
                   where status in ('failed', 'unhandled')
                     and received_at >= $1::text::timestamptz
                     and (received_at, svix_id) > ($1::text::timestamptz, $2)
                   order by received_at, svix_id
                   limit $3"#,
                after.received_at,
                after.svix_id,
                limit,
            )
            .fetch_all(pool)
            .await?
        }
    };
    Ok(page
        .into_iter()
        .map(|row| StoredEvent {
            position: Position {
                received_at: row.received_at,
                svix_id: row.svix_id,
            },
            payload: row.payload,
        })
        .collect())
}

/// Records what a replay did, for rows that were not projected before ([`Rows::Unprojected`]);
/// every other row keeps the status of its first delivery.
pub async fn set_replayed_statuses(
    tx: &mut Tx<'_>,
    outcomes: &[(&str, Outcome)],
) -> Result<(), sqlx::Error> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let (ids, statuses): (Vec<&str>, Vec<&str>) = outcomes
        .iter()
        .map(|(id, outcome)| (*id, outcome.as_str()))
        .unzip();
    // The partial index on unprojected rows finds them; no index on svix_id is needed.
    sqlx::query!(
        "update clerk.webhook_events
         set status = v.new_status,
             failure_reason = case when v.new_status = 'failed' then failure_reason end
         from unnest($1::text[], $2::text[]) as v(id, new_status)
         where svix_id = v.id and status <> v.new_status
           and status in ('failed', 'unhandled')",
        &ids as &[&str],
        &statuses as &[&str],
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records why Postgres refused a replayed event's values, on a row that was not projected before
/// ([`Rows::Unprojected`]); the others keep the status of their first delivery.
pub async fn set_replay_failure(
    pool: &PgPool,
    svix_id: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update clerk.webhook_events set status = 'failed', failure_reason = $2
         where svix_id = $1 and status in ('failed', 'unhandled')",
        svix_id,
        reason,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes ledger rows received more than `retention` ago (never less than 28 hours, whatever is
/// asked), `batch` rows per statement so no long transaction holds locks, and svix-ids older than
/// the deduplication window (`DEDUP_WINDOW`, 28 hours) from `clerk.recent_svix_ids`; returns how
/// many ledger rows went.
pub async fn prune(pool: &PgPool, retention: Duration, batch: i64) -> Result<u64, sqlx::Error> {
    let retention = retention.max(MIN_RETENTION);
    // One statement: the table holds one window of svix-ids, and this run's share is the few
    // minutes since the last.
    sqlx::query!(
        "delete from clerk.recent_svix_ids
         where received_at < now() - make_interval(secs => $1)",
        DEDUP_WINDOW.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    let mut deleted = 0;
    loop {
        // By row address: the ledger has no index on svix_id.
        let n = sqlx::query!(
            "delete from clerk.webhook_events where ctid = any(array(
                 select ctid from clerk.webhook_events
                 where received_at < now() - make_interval(secs => $1)
                 order by received_at
                 limit $2))",
            retention.as_secs_f64(),
            batch,
        )
        .execute(pool)
        .await?
        .rows_affected();
        deleted += n;
        if n < batch.max(1) as u64 {
            return Ok(deleted);
        }
    }
}
