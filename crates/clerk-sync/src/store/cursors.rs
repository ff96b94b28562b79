//! `clerk.backfill_cursors`: where `clerk-sync backfill` is in each listing.

use sqlx::PgPool;

use super::Tx;
use crate::backfill::{Cursor, Resource};

/// The stored cursor of `resource`, if a backfill of it ever started.
pub async fn get(pool: &PgPool, resource: Resource) -> Result<Option<Cursor>, sqlx::Error> {
    sqlx::query_as!(
        Cursor,
        r#"select next_offset, last_id, last_created_at, finished_at is not null as "finished!"
           from clerk.backfill_cursors where resource = $1"#,
        resource.name(),
    )
    .fetch_optional(pool)
    .await
}

/// Starts `resource` over from offset 0.
pub async fn restart(pool: &PgPool, resource: Resource) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into clerk.backfill_cursors (resource) values ($1)
         on conflict (resource) do update
         set next_offset = 0, last_id = null, last_created_at = null,
             started_at = now(), updated_at = now(),
             finished_at = null",
        resource.name(),
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Moves `resource` to `cursor`, in the transaction that writes the page it follows.
pub async fn advance(
    tx: &mut Tx<'_>,
    resource: Resource,
    cursor: &Cursor,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update clerk.backfill_cursors
         set next_offset = $2, last_id = $3, last_created_at = $4, updated_at = now()
         where resource = $1",
        resource.name(),
        cursor.next_offset,
        cursor.last_id.as_deref(),
        cursor.last_created_at,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks `resource` as read to its end.
pub async fn finish(pool: &PgPool, resource: Resource) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update clerk.backfill_cursors set finished_at = now(), updated_at = now()
         where resource = $1",
        resource.name(),
    )
    .execute(pool)
    .await?;
    Ok(())
}
