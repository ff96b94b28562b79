//! Rebuilding the projections from the ledger: what `clerk-sync replay` runs.
//!
//! Use it after upgrading to a version that projects more (a new table, a type that was
//! `unhandled`) or reads more (a parser fix for events stored as `failed`). Events are read in
//! `received_at` order, a batch per transaction, and applied under the same ordering rules as
//! live deliveries, so a replay is idempotent and safe beside a running server.

use sqlx::PgPool;

use crate::db::{self, Failure};
use crate::delivery::Delivery;
use crate::store::{ledger, session, Outcome};
use crate::sync;

/// Which ledger rows to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every row.
    All,
    /// Rows received at or after this time (a Postgres `timestamptz` literal, as
    /// [`resolve_since`] returns it).
    Since(String),
    /// Rows this version's predecessor could not project: `failed` (a payload that did not fit
    /// its type) and `unhandled` (a type it did not know).
    Failed,
}

impl Selection {
    /// The earliest `received_at` it covers.
    fn since(&self) -> &str {
        match self {
            Self::Since(since) => since,
            Self::All | Self::Failed => "-infinity",
        }
    }

    /// Which rows, by status.
    fn rows(&self) -> ledger::Rows {
        match self {
            Self::Failed => ledger::Rows::Unprojected,
            Self::All | Self::Since(_) => ledger::Rows::All,
        }
    }
}

/// Reads `--since`: a timestamp Postgres understands (`2026-11-27`, `2026-11-27T09:00:00Z`) or
/// an interval back from now (`2 hours`, `3 days`). `None` if it is neither.
pub async fn resolve_since(pool: &PgPool, text: &str) -> Result<Option<String>, sqlx::Error> {
    match session::timestamp(pool, text).await {
        Err(err) if is_data_exception(&err) => {}
        since => return since.map(Some),
    }
    match session::ago(pool, text).await {
        Err(err) if is_data_exception(&err) => Ok(None),
        since => since.map(Some),
    }
}

/// SQLSTATE class 22: here "not a timestamp" or "not an interval".
fn is_data_exception(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(err) if err.code().is_some_and(|c| c.starts_with("22")))
}

/// How many rows `selection` holds.
pub async fn count(pool: &PgPool, selection: &Selection) -> Result<i64, sqlx::Error> {
    ledger::count_since(pool, selection.since(), selection.rows()).await
}

/// What a replay did, per event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Events read from the ledger.
    pub events: u64,
    /// Events whose state is the newest the ledger has for their row: the row was written from
    /// them again (with today's parser and columns; identical if nothing changed).
    pub written: u64,
    /// Events that a newer event of the same row supersedes: nothing to write.
    pub superseded: u64,
    /// Ledger-only types (`email.created`, `sms.created`).
    pub recorded: u64,
    /// Types this version does not know either.
    pub unhandled: u64,
    /// Payloads this version cannot read either (they stay `failed`).
    pub failed: u64,
    /// Rows that are not an event envelope at all (written by hand, or by another version):
    /// skipped, each logged by svix-id, and left as they are.
    pub unreadable: u64,
}

/// Replays `selection`, `batch` events per transaction, calling `progress` with the number of
/// events done after each batch. Rows that were `failed` or `unhandled` get their new status;
/// the status of every other row records its first delivery and is left alone.
pub async fn replay(
    pool: &PgPool,
    selection: &Selection,
    batch: i64,
    mut progress: impl FnMut(u64),
) -> Result<Report, sqlx::Error> {
    // Every svix-id sorts after "", so the first page starts at `since` itself.
    let mut after = ledger::Position {
        received_at: selection.since().to_owned(),
        svix_id: String::new(),
    };
    let mut report = Report::default();
    loop {
        let rows = ledger::page_after(pool, &after, selection.rows(), batch).await?;
        let Some(last) = rows.last() else {
            return Ok(report);
        };
        after = last.position.clone();
        let mut webhooks = Vec::with_capacity(rows.len());
        for row in rows {
            // The ledger takes only bodies that parsed as envelopes, but a row written by hand
            // or by another version may not: count it rather than skip it silently.
            match Delivery::replayed(row.position.svix_id.clone(), row.payload) {
                Ok(webhook) => webhooks.push(webhook),
                Err(err) => {
                    report.events += 1;
                    report.unreadable += 1;
                    tracing::warn!(
                        "replay: ledger row {} is not an envelope ({}); skipped",
                        row.position.svix_id,
                        err.describe()
                    );
                }
            }
        }
        let refs: Vec<&Delivery> = webhooks.iter().collect();
        let outcomes = match apply(pool, &refs).await {
            Ok(outcomes) => outcomes,
            // One event's values are refused: find it, and let the others through.
            Err(err) if Failure::of(&err) == Failure::Permanent => {
                let mut outcomes = Vec::with_capacity(refs.len());
                for webhook in &refs {
                    outcomes.push(match apply(pool, &[webhook]).await {
                        Ok(one) => one[0],
                        Err(err) if Failure::of(&err) == Failure::Permanent => {
                            keep_failed(pool, webhook, &db::describe(&err)).await?;
                            Outcome::Failed
                        }
                        Err(err) => return Err(err),
                    });
                }
                outcomes
            }
            Err(err) => return Err(err),
        };
        for outcome in outcomes {
            report.events += 1;
            match outcome {
                Outcome::Applied => report.written += 1,
                Outcome::Stale | Outcome::Duplicate => report.superseded += 1,
                Outcome::Recorded => report.recorded += 1,
                Outcome::Unhandled => report.unhandled += 1,
                Outcome::Failed => report.failed += 1,
            }
        }
        progress(report.events);
    }
}

/// Applies `webhooks` again in one transaction, run again at once while it meets another.
async fn apply(pool: &PgPool, webhooks: &[&Delivery]) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut attempt = 1;
    loop {
        let run = async {
            let mut tx = db::begin_write(pool).await?;
            let outcomes = sync::reapply(&mut tx, webhooks).await?;
            let statuses: Vec<(&str, Outcome)> = webhooks
                .iter()
                .map(|w| w.svix_id())
                .zip(outcomes.iter().copied())
                .collect();
            ledger::set_replayed_statuses(&mut tx, &statuses).await?;
            tx.commit().await?;
            Ok(outcomes)
        };
        match run.await {
            Err(err) if Failure::of(&err) == Failure::Conflict && attempt < 5 => attempt += 1,
            result => return result,
        }
    }
}

/// Records why Postgres still refuses an event's values.
async fn keep_failed(pool: &PgPool, webhook: &Delivery, reason: &str) -> Result<(), sqlx::Error> {
    tracing::warn!(
        "replay: Postgres refused the values of {} {} ({reason})",
        webhook.svix_id(),
        webhook.envelope().event_type
    );
    ledger::set_replay_failure(pool, webhook.svix_id(), reason).await
}
