//! Statements about the connection and Postgres itself rather than our tables.

use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};

use super::Tx;

/// Whether the database answers.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!("select 1 as one")
        .fetch_one(pool)
        .await?;
    Ok(())
}

/// Sets the connection's statement timeout. `set_config` rather than `set`, which takes no
/// parameters; per session, not as a startup parameter, which poolers such as PgBouncer refuse.
pub async fn set_statement_timeout(
    conn: &mut PgConnection,
    timeout: Duration,
) -> Result<(), sqlx::Error> {
    // Milliseconds, the unit of a bare number for this setting.
    let millis = timeout.as_millis().to_string();
    sqlx::query_scalar!("select set_config('statement_timeout', $1, false)", millis)
        .fetch_one(conn)
        .await?;
    Ok(())
}

/// Begins a transaction at READ COMMITTED whatever the database's default (see
/// [`crate::db::begin_write`] for why).
pub async fn begin_read_committed(pool: &PgPool) -> Result<Tx<'static>, sqlx::Error> {
    pool.begin_with(BEGIN_READ_COMMITTED).await
}

/// [`begin_read_committed`] on a connection the caller holds.
pub async fn begin_read_committed_on(conn: &mut PgConnection) -> Result<Tx<'_>, sqlx::Error> {
    conn.begin_with(BEGIN_READ_COMMITTED).await
}

const BEGIN_READ_COMMITTED: &str = "begin isolation level read committed";

/// `text` as a timestamp (`2026-11-27`, `2026-11-27T09:00:00Z`), printed by Postgres. A text
/// that is none fails with a data exception (SQLSTATE class 22).
pub async fn timestamp(pool: &PgPool, text: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar!(r#"select $1::text::timestamptz::text as "since!""#, text)
        .fetch_one(pool)
        .await
}

/// The time `text` (an interval: `2 hours`, `3 days`) ago, printed by Postgres. A text that is
/// no interval fails with a data exception (SQLSTATE class 22).
pub async fn ago(pool: &PgPool, text: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select (now() - $1::text::interval)::text as "since!""#,
        text
    )
    .fetch_one(pool)
    .await
}
