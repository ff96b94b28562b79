//! What the sync holds: what `clerk-sync stats` prints.

use serde::Serialize;
use sqlx::PgPool;

use crate::store;

/// Rows in one projected table.
#[derive(Debug, Clone, Serialize)]
pub struct TableRows {
    /// Schema-qualified name.
    pub table: &'static str,
    /// All rows, tombstones included.
    pub rows: i64,
    /// Rows marked deleted.
    pub deleted: i64,
}

/// A snapshot of the `clerk` schema.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Rows per projected table.
    pub tables: Vec<TableRows>,
    /// Rows in the ledger.
    pub ledger_rows: i64,
    /// The ledger on disk, indexes and TOAST included, in bytes.
    pub ledger_bytes: i64,
    /// Ledger rows per status.
    pub ledger_by_status: Vec<(String, i64)>,
    /// When the newest delivery was received (RFC 3339), if any.
    pub newest_received_at: Option<String>,
    /// When Clerk emitted the newest event (RFC 3339), if any.
    pub newest_event_at: Option<String>,
}

/// Counts everything, in two statements: one over the projections, one pass over the ledger.
/// Exact counts: fine for an operator's command, not for a hot path.
pub async fn collect(pool: &PgPool) -> Result<Stats, sqlx::Error> {
    let tables = store::stats::table_rows(pool).await?;
    let mut groups = store::stats::ledger_groups(pool).await?.into_iter();
    // Postgres returns the grand total even for an empty ledger.
    let total = groups.next().unwrap_or_default();
    let ledger_by_status = groups
        .filter_map(|group| Some((group.status?, group.rows)))
        .collect();
    Ok(Stats {
        tables,
        ledger_rows: total.rows,
        ledger_bytes: total.bytes,
        ledger_by_status,
        newest_received_at: total.newest_received_at,
        newest_event_at: total.newest_event_at,
    })
}
