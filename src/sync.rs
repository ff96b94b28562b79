//! Applying a verified delivery: the ledger row and the projection in one transaction.

use std::time::SystemTime;

use sqlx::PgPool;

use crate::clerk::ClerkEvent;
use crate::guard::ClerkWebhook;
use crate::store::projection::{self, Rank, Row, Table, Tombstone, Upsert};
use crate::store::tables::{self, *};
use crate::store::{ledger, Outcome, Tx};

/// What one event asks of the projections.
#[derive(Debug)]
pub enum Change<'e> {
    /// Write the payload's row, under the ordering rule.
    Upsert {
        /// Where.
        table: &'static Table,
        /// What.
        row: Row,
        /// The payload's `updated_at`, if it has one (else the envelope time orders it).
        updated_at: Option<i64>,
        /// Its lifecycle rank.
        rank: Rank,
    },
    /// Mark the object deleted.
    Delete {
        /// Where.
        table: &'static Table,
        /// Which.
        id: &'e str,
    },
    /// Keep it in the ledger only.
    Record,
    /// Unknown type: keep it in the ledger only.
    Unhandled,
}

fn upsert(
    table: &'static Table,
    row: Row,
    updated_at: Option<i64>,
    rank: Rank,
) -> Vec<Change<'static>> {
    vec![Change::Upsert {
        table,
        row,
        updated_at,
        rank,
    }]
}

fn delete<'e>(table: &'static Table, id: &'e str) -> Vec<Change<'e>> {
    vec![Change::Delete { table, id }]
}

/// Where each event lands: the table of contents of the sync.
pub fn changes(event: &ClerkEvent) -> Vec<Change<'_>> {
    use ClerkEvent::*;
    use Rank::*;
    match event {
        UserCreated(x) => upsert(&USERS, tables::user(x), x.updated_at, Created),
        UserUpdated(x) => upsert(&USERS, tables::user(x), x.updated_at, Changed),
        UserDeleted(x) => delete(&USERS, &x.id),

        SessionCreated(x) => upsert(&SESSIONS, tables::session(x), x.updated_at, Created),
        SessionPending(x) => upsert(&SESSIONS, tables::session(x), x.updated_at, Changed),
        SessionEnded(x) | SessionRemoved(x) | SessionRevoked(x) => {
            upsert(&SESSIONS, tables::session(x), x.updated_at, Final)
        }

        OrganizationCreated(x) => upsert(
            &ORGANIZATIONS,
            tables::organization(x),
            x.updated_at,
            Created,
        ),
        OrganizationUpdated(x) => upsert(
            &ORGANIZATIONS,
            tables::organization(x),
            x.updated_at,
            Changed,
        ),
        OrganizationDeleted(x) => delete(&ORGANIZATIONS, &x.id),

        OrganizationDomainCreated(x) => upsert(
            &ORGANIZATION_DOMAINS,
            tables::organization_domain(x),
            x.updated_at,
            Created,
        ),
        OrganizationDomainUpdated(x) => upsert(
            &ORGANIZATION_DOMAINS,
            tables::organization_domain(x),
            x.updated_at,
            Changed,
        ),
        OrganizationDomainDeleted(x) => delete(&ORGANIZATION_DOMAINS, &x.id),

        OrganizationMembershipCreated(x) => upsert(
            &ORGANIZATION_MEMBERSHIPS,
            tables::organization_membership(x),
            x.updated_at,
            Created,
        ),
        OrganizationMembershipUpdated(x) => upsert(
            &ORGANIZATION_MEMBERSHIPS,
            tables::organization_membership(x),
            x.updated_at,
            Changed,
        ),
        // Clerk sends the whole membership on deletion: keep it as the last state, then delete.
        OrganizationMembershipDeleted(x) => {
            let mut changes = upsert(
                &ORGANIZATION_MEMBERSHIPS,
                tables::organization_membership(x),
                x.updated_at,
                Deleted,
            );
            changes.extend(delete(&ORGANIZATION_MEMBERSHIPS, &x.id));
            changes
        }

        OrganizationInvitationCreated(x) => upsert(
            &ORGANIZATION_INVITATIONS,
            tables::organization_invitation(x),
            x.updated_at,
            Created,
        ),
        OrganizationInvitationAccepted(x) | OrganizationInvitationRevoked(x) => upsert(
            &ORGANIZATION_INVITATIONS,
            tables::organization_invitation(x),
            x.updated_at,
            Final,
        ),

        EmailCreated(_) | SmsCreated(_) => vec![Change::Record],

        RoleCreated(x) => upsert(&ROLES, tables::role(x), x.updated_at, Created),
        RoleUpdated(x) => upsert(&ROLES, tables::role(x), x.updated_at, Changed),
        RoleDeleted(x) => delete(&ROLES, &x.id),

        PermissionCreated(x) => upsert(&PERMISSIONS, tables::permission(x), x.updated_at, Created),
        PermissionUpdated(x) => upsert(&PERMISSIONS, tables::permission(x), x.updated_at, Changed),
        PermissionDeleted(x) => delete(&PERMISSIONS, &x.id),

        WaitlistEntryCreated(x) => upsert(
            &WAITLIST_ENTRIES,
            tables::waitlist_entry(x),
            x.updated_at,
            Created,
        ),
        WaitlistEntryUpdated(x) => upsert(
            &WAITLIST_ENTRIES,
            tables::waitlist_entry(x),
            x.updated_at,
            Changed,
        ),

        SubscriptionCreated(x) => upsert(
            &SUBSCRIPTIONS,
            tables::subscription(x),
            x.updated_at,
            Created,
        ),
        SubscriptionUpdated(x) | SubscriptionActive(x) | SubscriptionPastDue(x) => upsert(
            &SUBSCRIPTIONS,
            tables::subscription(x),
            x.updated_at,
            Changed,
        ),

        SubscriptionItemCreated(x) | SubscriptionItemUpcoming(x) => upsert(
            &SUBSCRIPTION_ITEMS,
            tables::subscription_item(x),
            x.updated_at,
            Created,
        ),
        SubscriptionItemUpdated(x)
        | SubscriptionItemActive(x)
        | SubscriptionItemFreeTrialEnding(x)
        | SubscriptionItemPastDue(x)
        | SubscriptionItemIncomplete(x) => upsert(
            &SUBSCRIPTION_ITEMS,
            tables::subscription_item(x),
            x.updated_at,
            Changed,
        ),
        SubscriptionItemCanceled(x) | SubscriptionItemEnded(x) | SubscriptionItemAbandoned(x) => {
            upsert(
                &SUBSCRIPTION_ITEMS,
                tables::subscription_item(x),
                x.updated_at,
                Final,
            )
        }

        PaymentAttemptCreated(x) => upsert(
            &PAYMENT_ATTEMPTS,
            tables::payment_attempt(x),
            x.updated_at,
            Created,
        ),
        PaymentAttemptUpdated(x) => upsert(
            &PAYMENT_ATTEMPTS,
            tables::payment_attempt(x),
            x.updated_at,
            Changed,
        ),

        Unknown { .. } => vec![Change::Unhandled],
    }
}

/// Records `webhook` in the ledger and applies it to its projections, atomically. A svix-id seen
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

/// Applies the event's changes inside `tx`.
pub async fn project(tx: &mut Tx<'_>, webhook: &ClerkWebhook) -> Result<Outcome, sqlx::Error> {
    let data = webhook.envelope.data.get();
    let at = webhook
        .envelope
        .occurred_at_millis()
        .unwrap_or_else(now_millis);
    let mut outcome = None;
    for change in changes(&webhook.event) {
        let changed = match change {
            Change::Upsert {
                table,
                row,
                updated_at,
                rank,
            } => {
                let upsert = Upsert {
                    row,
                    data,
                    version: updated_at.unwrap_or(at),
                    rank,
                    svix_id: &webhook.svix_id,
                };
                !projection::upsert(tx, table, &[upsert]).await?.is_empty()
            }
            Change::Delete { table, id } => {
                let tombstone = Tombstone { id, data, at };
                !projection::tombstone(tx, table, &[tombstone])
                    .await?
                    .is_empty()
            }
            Change::Record => return Ok(Outcome::Recorded),
            Change::Unhandled => return Ok(Outcome::Unhandled),
        };
        if changed || outcome.is_none() {
            outcome = Some(if changed {
                Outcome::Applied
            } else {
                Outcome::Stale
            });
        }
    }
    Ok(outcome.unwrap_or(Outcome::Stale))
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
