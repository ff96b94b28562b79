//! `clerk.webhook_events`: one row per Svix message.

use super::{Outcome, Tx};
use crate::guard::ClerkWebhook;

/// Records the delivery; `false` if its svix-id is already there. A concurrent delivery of the
/// same svix-id waits here on the primary key until the first commits or rolls back.
pub async fn insert(tx: &mut Tx<'_>, webhook: &ClerkWebhook) -> Result<bool, sqlx::Error> {
    let envelope = &webhook.envelope;
    let inserted = sqlx::query(
        "insert into clerk.webhook_events
             (svix_id, event_type, object_id, instance_id, event_timestamp, status, payload)
         values ($1, $2, $3, $4, clerk.from_millis($5), 'applied', $6::jsonb)
         on conflict (svix_id) do nothing",
    )
    .bind(&webhook.svix_id)
    .bind(&envelope.event_type)
    .bind(envelope.object_id())
    .bind(&envelope.instance_id)
    .bind(envelope.occurred_at_millis())
    .bind(&webhook.body)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Records what applying the delivery did, when it was not `applied` (the inserted default).
pub async fn set_status(
    tx: &mut Tx<'_>,
    svix_id: &str,
    outcome: Outcome,
) -> Result<(), sqlx::Error> {
    if outcome != Outcome::Applied {
        sqlx::query("update clerk.webhook_events set status = $2 where svix_id = $1")
            .bind(svix_id)
            .bind(outcome.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
