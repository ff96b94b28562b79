//! Applying a verified delivery: the ledger row and the projection in one transaction.

use sqlx::PgPool;

use crate::clerk::ClerkEvent;
use crate::guard::ClerkWebhook;
use crate::store::{ledger, users, Outcome, Tx};

/// Records `webhook` in the ledger and applies it to its projection, atomically. A svix-id seen
/// before changes nothing and yields [`Outcome::Duplicate`]. When this returns `Ok`, the event
/// is committed.
pub async fn apply(pool: &PgPool, webhook: &ClerkWebhook) -> Result<Outcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if !ledger::insert(&mut tx, webhook).await? {
        return Ok(Outcome::Duplicate);
    }
    let outcome = project(&mut tx, webhook).await?;
    ledger::set_status(&mut tx, &webhook.svix_id, outcome).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Where each event lands: the table of contents of the sync.
async fn project(tx: &mut Tx<'_>, webhook: &ClerkWebhook) -> Result<Outcome, sqlx::Error> {
    let data = webhook.envelope.data.get();
    let at = webhook.envelope.occurred_at_millis();
    match &webhook.event {
        ClerkEvent::UserCreated(user) | ClerkEvent::UserUpdated(user) => {
            users::upsert(tx, user, data, at).await
        }
        ClerkEvent::UserDeleted(deleted) => users::delete(tx, deleted, data, at).await,
        ClerkEvent::Unknown { .. } => Ok(Outcome::Unhandled),
    }
}
