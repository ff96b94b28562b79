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

/// Counts everything, in two statements: one over the projections, one pass over the ledger.
/// Exact counts: fine for an operator's command, not for a hot path.
pub async fn collect(pool: &PgPool) -> Result<Stats, sqlx::Error> {
    let per_table: Vec<String> = ALL
        .iter()
        .enumerate()
        .map(|(i, table)| {
            format!(
                "select {i} as i, count(*), count(deleted_at) from {}",
                table.name
            )
        })
        .collect();
    let counts: Vec<(i32, i64, i64)> =
        sqlx::query_as(&format!("{} order by i", per_table.join(" union all ")))
            .fetch_all(pool)
            .await?;
    let tables = ALL
        .iter()
        .zip(counts)
        .map(|(table, (_, rows, deleted))| TableRows {
            table: table.name,
            rows,
            deleted,
        })
        .collect();

    // One row per status, and the grand total (status null) from the same scan.
    #[derive(Default, sqlx::FromRow)]
    struct Group {
        status: Option<String>,
        rows: i64,
        bytes: i64,
        newest_received_at: Option<String>,
        newest_event_at: Option<String>,
    }
    let groups: Vec<Group> = sqlx::query_as(&format!(
        "select status, count(*) as rows,
                pg_total_relation_size('clerk.webhook_events') as bytes,
                to_char(max(received_at) at time zone 'UTC', {RFC3339}) as newest_received_at,
                to_char(max(event_timestamp) at time zone 'UTC', {RFC3339}) as newest_event_at
         from clerk.webhook_events
         group by grouping sets ((status), ())
         order by status nulls first"
    ))
    .fetch_all(pool)
    .await?;
    let mut groups = groups.into_iter();
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
