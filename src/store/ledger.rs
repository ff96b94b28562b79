//! `clerk.webhook_events`: one row per Svix message.

use std::time::Duration;

use sqlx::PgPool;

use super::{Outcome, Tx};
use crate::config::MIN_RETENTION;
use crate::guard::ClerkWebhook;

/// Records deliveries (whose svix-ids must be distinct); returns the svix-ids that were new. A
/// concurrent delivery of the same svix-id waits here on the primary key until the first commits
/// or rolls back.
pub async fn insert(
    tx: &mut Tx<'_>,
    webhooks: &[&ClerkWebhook],
) -> Result<Vec<String>, sqlx::Error> {
    let envelopes = webhooks.iter().map(|w| &w.envelope);
    sqlx::query_scalar(
        "insert into clerk.webhook_events
             (svix_id, event_type, object_id, instance_id, event_timestamp, status, payload)
         select v.svix_id, v.event_type, v.object_id, v.instance_id, clerk.from_millis(v.at),
                'applied', v.payload::jsonb
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])
             as v(svix_id, event_type, object_id, instance_id, at, payload)
         order by v.svix_id
         on conflict (svix_id) do nothing
         returning svix_id",
    )
    .bind(
        webhooks
            .iter()
            .map(|w| w.svix_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        envelopes
            .clone()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        webhooks
            .iter()
            .map(|w| w.object_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        envelopes
            .clone()
            .map(|e| e.instance_id.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        envelopes
            .map(|e| e.occurred_at_millis())
            .collect::<Vec<_>>(),
    )
    .bind(webhooks.iter().map(|w| w.body.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await
}

/// Records what applying each delivery did, where it was not `applied` (the inserted default).
pub async fn set_statuses(
    tx: &mut Tx<'_>,
    outcomes: &[(&str, Outcome)],
) -> Result<(), sqlx::Error> {
    let (ids, statuses): (Vec<&str>, Vec<&str>) = outcomes
        .iter()
        .filter(|(_, outcome)| *outcome != Outcome::Applied)
        .map(|(id, outcome)| (*id, outcome.as_str()))
        .unzip();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "update clerk.webhook_events e set status = v.status
         from unnest($1::text[], $2::text[]) as v(svix_id, status)
         where e.svix_id = v.svix_id",
    )
    .bind(ids)
    .bind(statuses)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Deletes ledger rows received more than `retention` ago (never less than 28 hours, whatever is
/// asked), `batch` rows per statement so no long transaction holds locks; returns how many.
pub async fn prune(pool: &PgPool, retention: Duration, batch: i64) -> Result<u64, sqlx::Error> {
    let retention = retention.max(MIN_RETENTION);
    let mut deleted = 0;
    loop {
        let n = sqlx::query(
            "delete from clerk.webhook_events where svix_id in (
                 select svix_id from clerk.webhook_events
                 where received_at < now() - make_interval(secs => $1)
                 order by received_at
                 limit $2)",
        )
        .bind(retention.as_secs_f64())
        .bind(batch)
        .execute(pool)
        .await?
        .rows_affected();
        deleted += n;
        if n < batch.max(1) as u64 {
            return Ok(deleted);
        }
    }
}
