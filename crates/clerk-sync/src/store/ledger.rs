//! `clerk.webhook_events`: one row per Svix message.

use std::time::Duration;

use sqlx::PgPool;

use super::{Outcome, Tx};
use crate::config::MIN_RETENTION;
use crate::delivery::Delivery;

/// Records deliveries (whose svix-ids must be distinct); returns the svix-ids that were new. A
/// concurrent delivery of the same svix-id waits here on the primary key until the first commits
/// or rolls back.
pub async fn insert(tx: &mut Tx<'_>, webhooks: &[&Delivery]) -> Result<Vec<String>, sqlx::Error> {
    let svix_ids: Vec<&str> = webhooks.iter().map(|w| w.svix_id()).collect();
    let event_types: Vec<&str> = webhooks
        .iter()
        .map(|w| w.envelope().event_type.as_str())
        .collect();
    let object_ids: Vec<Option<&str>> = webhooks.iter().map(|w| w.object_id()).collect();
    let instance_ids: Vec<Option<&str>> = webhooks
        .iter()
        .map(|w| w.envelope().instance_id.as_deref())
        .collect();
    let at: Vec<Option<i64>> = webhooks
        .iter()
        .map(|w| w.envelope().occurred_at_millis())
        .collect();
    let bodies: Vec<&str> = webhooks.iter().map(|w| w.body()).collect();
    // The `as` casts name the arrays' element types, which the macro cannot match with `&str`.
    sqlx::query_scalar!(
        "insert into clerk.webhook_events
             (svix_id, event_type, object_id, instance_id, event_timestamp, status, body)
         select v.svix_id, v.event_type, v.object_id, v.instance_id, clerk.from_millis(v.at),
                'applied', v.body
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])
             as v(svix_id, event_type, object_id, instance_id, at, body)
         order by v.svix_id
         on conflict (svix_id) do nothing
         returning svix_id",
        &svix_ids as &[&str],
        &event_types as &[&str],
        &object_ids as &[Option<&str>],
        &instance_ids as &[Option<&str>],
        &at as &[Option<i64>],
        &bodies as &[&str],
    )
    .fetch_all(&mut **tx)
    .await
}

/// Keeps a delivery that Postgres refused to store as it is (see [`crate::db::Failure`]) as
/// `failed`, with the reason, so it is acknowledged and `clerk-sync replay --failed` can apply it
/// once a fix allows. Only the body (as text, which takes what `jsonb` refuses) and a Clerk id
/// are stored; an envelope time outside what `timestamptz` holds is left out. Returns whether
/// the row is new.
pub async fn insert_failed(
    tx: &mut Tx<'_>,
    webhook: &Delivery,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let envelope = webhook.envelope();
    let inserted = sqlx::query!(
        "insert into clerk.webhook_events
             (svix_id, event_type, object_id, instance_id, event_timestamp, status, body,
              failure_reason)
         values ($1, $2, $3, $4,
                 case when $5 between -200000000000000 and 8000000000000000
                      then clerk.from_millis($5) end,
                 'failed', $6, $7)
         on conflict (svix_id) do nothing",
        webhook.svix_id(),
        envelope.event_type.as_str(),
        webhook.object_id(),
        envelope.instance_id.as_deref(),
        envelope.occurred_at_millis(),
        webhook.body(),
        reason,
    )
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
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

/// Records what applying each new delivery did, where it was not `applied` (the inserted default).
pub async fn set_statuses(
    tx: &mut Tx<'_>,
    outcomes: &[(&str, Outcome)],
) -> Result<(), sqlx::Error> {
    let changed: Vec<(&str, Outcome)> = outcomes
        .iter()
        .copied()
        .filter(|(_, outcome)| *outcome != Outcome::Applied)
        .collect();
    update_statuses(tx, &changed, Rows::All).await
}

/// Records what a replay did, for rows that were not projected before ([`Rows::Unprojected`]);
/// every other row keeps the status of its first delivery.
pub async fn set_replayed_statuses(
    tx: &mut Tx<'_>,
    outcomes: &[(&str, Outcome)],
) -> Result<(), sqlx::Error> {
    update_statuses(tx, outcomes, Rows::Unprojected).await
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

/// One statement for all of `outcomes`, on those of them that are also among `rows`.
async fn update_statuses(
    tx: &mut Tx<'_>,
    outcomes: &[(&str, Outcome)],
    rows: Rows,
) -> Result<(), sqlx::Error> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let (ids, statuses): (Vec<&str>, Vec<&str>) = outcomes
        .iter()
        .map(|(id, outcome)| (*id, outcome.as_str()))
        .unzip();
    match rows {
        Rows::All => {
            sqlx::query!(
                "update clerk.webhook_events
                 set status = v.new_status,
                     failure_reason = case when v.new_status = 'failed' then failure_reason end
                 from unnest($1::text[], $2::text[]) as v(id, new_status)
                 where svix_id = v.id and status <> v.new_status",
                &ids as &[&str],
                &statuses as &[&str],
            )
            .execute(&mut **tx)
            .await?
        }
        Rows::Unprojected => {
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
            .await?
        }
    };
    Ok(())
}

/// Deletes ledger rows received more than `retention` ago (never less than 28 hours, whatever is
/// asked), `batch` rows per statement so no long transaction holds locks; returns how many.
pub async fn prune(pool: &PgPool, retention: Duration, batch: i64) -> Result<u64, sqlx::Error> {
    let retention = retention.max(MIN_RETENTION);
    let mut deleted = 0;
    loop {
        let n = sqlx::query!(
            "delete from clerk.webhook_events where svix_id in (
                 select svix_id from clerk.webhook_events
                 where received_at < now() - make_interval(secs => $1)
                 order by received_at
                 limit $2)",
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
