//! Counts for `clerk-sync stats`.

use sqlx::PgPool;

use super::tables::ALL;
use crate::stats::TableRows;

/// Rows and tombstones of every projected table, in one statement. The one statement here built
/// at run time: its table names are the `&'static` names of the table definitions, never input.
pub async fn table_rows(pool: &PgPool) -> Result<Vec<TableRows>, sqlx::Error> {
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
    Ok(ALL
        .iter()
        .zip(counts)
        .map(|(table, (_, rows, deleted))| TableRows {
            table: table.name,
            rows,
            deleted,
        })
        .collect())
}

/// Ledger rows of one status, or of all (`status` is `None`).
#[derive(Debug, Default)]
pub struct LedgerGroup {
    /// The status; `None` for the grand total.
    pub status: Option<String>,
    /// Rows.
    pub rows: i64,
    /// The ledger on disk, indexes and TOAST included, in bytes (the same in every group).
    pub bytes: i64,
    /// When the newest delivery was received (RFC 3339), if any.
    pub newest_received_at: Option<String>,
    /// When Clerk emitted the newest event (RFC 3339), if any.
    pub newest_event_at: Option<String>,
}

/// One group per status, and the grand total first (even for an empty ledger), from one scan.
pub async fn ledger_groups(pool: &PgPool) -> Result<Vec<LedgerGroup>, sqlx::Error> {
    sqlx::query_as!(
        LedgerGroup,
        r#"select status as "status?", count(*) as "rows!",
                  pg_total_relation_size('clerk.webhook_events') as "bytes!",
                  to_char(max(received_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                      as newest_received_at,
                  to_char(max(event_timestamp) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                      as newest_event_at
           from clerk.webhook_events
           group by grouping sets ((status), ())
           order by status nulls first"#
    )
    .fetch_all(pool)
    .await
}
