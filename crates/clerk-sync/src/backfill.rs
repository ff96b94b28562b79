//! Backfill, the database side: objects read from the Clerk Backend API are written exactly as
//! webhooks are, so a backfill racing live deliveries never overwrites newer data and never
//! resurrects a deleted object.
//!
//! Each object becomes a synthetic delivery of its `*.updated` event, with the svix-id
//! `backfill_<id>_<updated_at>`: the same ordering key decides between it and live deliveries
//! (a webhook carrying the same state wins the tie), its ledger row shows where a row came from,
//! and running the same backfill twice over unchanged objects is a no-op. The listing's cursor
//! is committed in the same transaction as the page it follows.

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;
use sqlx::{Acquire, PgPool};

use crate::clerk::EnvelopeError;
use crate::db::{self, Failure};
use crate::delivery::Delivery;
use crate::store::{cursors, ledger, Outcome, Tx};
use crate::sync::{self, ApplyError};

/// A listing of the Clerk Backend API that a backfill reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `GET /v1/users`.
    Users,
    /// `GET /v1/organizations`.
    Organizations,
    /// `GET /v1/organization_memberships`, every membership of the instance.
    Memberships,
}

impl Resource {
    /// All of them, in the order a backfill reads them (parents first).
    pub const ALL: [Self; 3] = [Self::Users, Self::Organizations, Self::Memberships];

    /// The name used on the command line and in `clerk.backfill_cursors`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Organizations => "organizations",
            Self::Memberships => "memberships",
        }
    }

    /// The Backend API path of the listing.
    pub fn path(self) -> &'static str {
        match self {
            Self::Users => "/v1/users",
            Self::Organizations => "/v1/organizations",
            Self::Memberships => "/v1/organization_memberships",
        }
    }

    /// The event a snapshot of this resource is written as.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::Users => "user.updated",
            Self::Organizations => "organization.updated",
            Self::Memberships => "organizationMembership.updated",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a listing stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The offset of the first object not yet written.
    pub next_offset: i64,
    /// The id of the last object written: the next page should repeat it in its overlap.
    pub last_id: Option<String>,
    /// That object's `created_at` (Unix ms). Listings are ordered by it, so if the object is
    /// deleted in Clerk before the next page is read, this still tells where new objects start.
    pub last_created_at: Option<i64>,
    /// The listing was read to its end.
    pub finished: bool,
}

/// The stored cursor of `resource`, if a backfill of it ever started.
pub async fn cursor(pool: &PgPool, resource: Resource) -> Result<Option<Cursor>, sqlx::Error> {
    cursors::get(pool, resource).await
}

/// Starts `resource` over from offset 0.
pub async fn restart(pool: &PgPool, resource: Resource) -> Result<(), sqlx::Error> {
    cursors::restart(pool, resource).await
}

/// Marks `resource` as read to its end.
pub async fn finish(pool: &PgPool, resource: Resource) -> Result<(), sqlx::Error> {
    cursors::finish(pool, resource).await
}

/// Why an object of a listing cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The object has no string `id`.
    #[error("an object without an id")]
    NoId,
    /// The synthetic envelope could not be stored (too deep, `\u0000`).
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

/// The synthetic delivery that writes `object`, fetched at `fetched_at_ms` from the Clerk
/// instance `instance_id` (`ins_...`; `None` when unknown): its envelope carries the instance as
/// a webhook's does, so the rows record it.
pub fn snapshot(
    resource: Resource,
    object: &RawValue,
    fetched_at_ms: i64,
    instance_id: Option<&str>,
) -> Result<Delivery, SnapshotError> {
    #[derive(Deserialize)]
    struct Key {
        id: Option<String>,
        updated_at: Option<i64>,
    }
    let key: Key = serde_json::from_str(object.get()).map_err(EnvelopeError::from)?;
    let id = key.id.ok_or(SnapshotError::NoId)?;
    let version = key.updated_at.unwrap_or(fetched_at_ms);
    // Written as JSON, quotes and all, whatever the caller passed.
    let instance = serde_json::to_string(&instance_id).map_err(EnvelopeError::from)?;
    let body = format!(
        r#"{{"type":"{}","object":"event","timestamp":{fetched_at_ms},"instance_id":{instance},"data":{}}}"#,
        resource.event_type(),
        object.get()
    );
    Ok(Delivery::backfilled(
        format!("backfill_{id}_{version}"),
        body,
    )?)
}

/// What writing one page did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PageReport {
    /// Objects that changed a row.
    pub applied: u64,
    /// Objects older than (or equal to) what was stored, or already deleted: nothing changed.
    pub unchanged: u64,
    /// Objects this version could not read (kept in the ledger as `failed`).
    pub failed: u64,
}

/// Writes one page of `resource` and moves its cursor past it, in one transaction; with
/// `dry_run` the transaction is rolled back, so the report says what would have happened.
pub async fn write_page(
    pool: &PgPool,
    resource: Resource,
    snapshots: &[Delivery],
    cursor: &Cursor,
    dry_run: bool,
) -> Result<PageReport, ApplyError> {
    let mut tx = db::begin_write(pool).await?;
    let outcomes = apply_keeping_refused(&mut tx, snapshots).await?;
    cursors::advance(&mut tx, resource, cursor).await?;
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    let mut report = PageReport::default();
    for outcome in outcomes {
        match outcome {
            Outcome::Applied => report.applied += 1,
            Outcome::Failed => report.failed += 1,
            _ => report.unchanged += 1,
        }
    }
    Ok(report)
}

/// Applies a page. If Postgres refuses one object's values, each object is applied again in a
/// savepoint of its own and the refused ones are kept in the ledger as `failed`, as a webhook
/// would be: one object cannot stop a backfill.
async fn apply_keeping_refused(
    tx: &mut Tx<'_>,
    snapshots: &[Delivery],
) -> Result<Vec<Outcome>, ApplyError> {
    let refs: Vec<&Delivery> = snapshots.iter().collect();
    let mut whole = (&mut **tx).begin().await?;
    match sync::apply_batch(&mut whole, &refs, None).await {
        Ok(outcomes) => {
            whole.commit().await?;
            return Ok(outcomes);
        }
        Err(ApplyError::Database(err)) if Failure::of(&err) == Failure::Permanent => {
            whole.rollback().await?
        }
        Err(err) => return Err(err),
    }
    let mut outcomes = Vec::with_capacity(refs.len());
    for snapshot in refs {
        let mut one = (&mut **tx).begin().await?;
        match sync::apply_batch(&mut one, &[snapshot], None).await {
            Ok(outcome) => {
                one.commit().await?;
                outcomes.push(outcome[0]);
            }
            Err(ApplyError::Database(err)) if Failure::of(&err) == Failure::Permanent => {
                one.rollback().await?;
                let reason = db::describe(&err);
                tracing::warn!(
                    "backfill: Postgres refused the values of {} ({reason}); kept as failed",
                    snapshot.object_id().unwrap_or("-")
                );
                let new = ledger::insert_failed(tx, snapshot, &reason).await?;
                outcomes.push(if new {
                    Outcome::Failed
                } else {
                    Outcome::Duplicate
                });
            }
            Err(err) => return Err(err),
        }
    }
    Ok(outcomes)
}
