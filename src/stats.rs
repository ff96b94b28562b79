//! What the sync holds: what `clerk-sync stats` prints.

use serde::Serialize;
use sqlx::PgPool;

use crate::store::tables::ALL;

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

const RFC3339: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'"#;

/// Counts everything. Exact counts: fine for an operator's command, not for a hot path.
pub async fn collect(pool: &PgPool) -> Result<Stats, sqlx::Error> {
    let mut tables = Vec::with_capacity(ALL.len());
    for table in ALL {
        let (rows, deleted): (i64, i64) = sqlx::query_as(&format!(
            "select count(*), count(deleted_at) from {}",
            table.name
        ))
        .fetch_one(pool)
        .await?;
        tables.push(TableRows {
            table: table.name,
            rows,
            deleted,
        });
    }
    let (ledger_rows, ledger_bytes, newest_received_at, newest_event_at): (
        i64,
        i64,
        Option<String>,
        Option<String>,
    ) = sqlx::query_as(&format!(
        "select count(*), pg_total_relation_size('clerk.webhook_events'),
                to_char(max(received_at) at time zone 'UTC', {RFC3339}),
                to_char(max(event_timestamp) at time zone 'UTC', {RFC3339})
         from clerk.webhook_events"
    ))
    .fetch_one(pool)
    .await?;
    let ledger_by_status = sqlx::query_as(
        "select status, count(*) from clerk.webhook_events group by status order by status",
    )
    .fetch_all(pool)
    .await?;
    Ok(Stats {
        tables,
        ledger_rows,
        ledger_bytes,
        ledger_by_status,
        newest_received_at,
        newest_event_at,
    })
}
