//! Your code on synced events: inside the transaction that stores them, or after it commits.

use std::sync::Arc;

use crate::delivery::Delivery;
pub use crate::store::{Outcome, Tx};

/// The error a hook returns. Any error type converts into it with `?`.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Your code on synced events.
///
/// * [`Hooks::in_transaction`] runs inside the transaction that records the event and updates
///   the projections, after them; write your own tables through `tx` and they change atomically
///   with ours. The transaction runs at READ COMMITTED, whatever the database's default. An
///   error rolls everything back — the event, its projection, your writes — and the delivery is
///   answered 500 (`hook_failed`), so Svix retries it later. So does a statement of yours that
///   failed even if you ignore its error (Postgres aborts the transaction), and a panic. Other
///   deliveries that shared the batch are retried once on their own and are not affected.
/// * [`Hooks::after_commit`] runs after the commit, off the request path (the delivery has been
///   answered, or is being answered, 200). Use it for side effects such as sending an email. It
///   runs at most once: if the process stops first, it does not run. For side effects that must
///   not be lost, write an outbox row in `in_transaction` and process it yourself. A panic is
///   caught and logged. At most 256 batches' after-commit work waits at once; past that, new
///   deliveries wait for it rather than memory growing.
///
/// Neither runs for a redelivery of a svix-id already stored. [`Delivery::origin`] says where an
/// event came from; today only webhooks reach hooks (`clerk-sync replay` and `backfill` run
/// without them).
#[rocket::async_trait]
pub trait Hooks: Send + Sync + 'static {
    /// Runs inside the event's transaction, after the projections.
    async fn in_transaction(
        &self,
        tx: &mut Tx<'_>,
        delivery: &Delivery,
        outcome: Outcome,
    ) -> Result<(), HookError> {
        let _ = (tx, delivery, outcome);
        Ok(())
    }

    /// Runs after the event's transaction committed.
    async fn after_commit(&self, delivery: &Delivery, outcome: Outcome) {
        let _ = (delivery, outcome);
    }
}

/// No hooks.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;

impl Hooks for NoHooks {}

/// Shared hooks, as the writer holds them.
pub(crate) type SharedHooks = Arc<dyn Hooks>;
