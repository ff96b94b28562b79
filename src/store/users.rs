//! `clerk.users`.
//!
//! Deliveries arrive at least once and in any order, so a write applies only when it is not
//! older than the stored row (`updated_at`), and never to a deleted user.

use super::{Outcome, Tx};
use crate::clerk::{DeletedObject, User};

/// Inserts or updates a user from `user.created` / `user.updated`.
///
/// `fallback_millis` (the envelope time) orders payloads that lack `updated_at`.
pub async fn upsert(
    tx: &mut Tx<'_>,
    user: &User,
    data: &str,
    fallback_millis: Option<i64>,
) -> Result<Outcome, sqlx::Error> {
    let changed = sqlx::query(
        "insert into clerk.users as u
             (id, primary_email, username, first_name, last_name, image_url, external_id,
              created_at, updated_at, data)
         values ($1, $2, $3, $4, $5, $6, $7, clerk.from_millis($8), clerk.from_millis($9), $10::jsonb)
         on conflict (id) do update set
             primary_email = excluded.primary_email,
             username = excluded.username,
             first_name = excluded.first_name,
             last_name = excluded.last_name,
             image_url = excluded.image_url,
             external_id = excluded.external_id,
             created_at = excluded.created_at,
             updated_at = excluded.updated_at,
             data = excluded.data,
             synced_at = now()
         where u.deleted_at is null
           and (u.updated_at is null or u.updated_at <= excluded.updated_at)",
    )
    .bind(&user.id)
    .bind(user.primary_email())
    .bind(&user.username)
    .bind(&user.first_name)
    .bind(&user.last_name)
    .bind(user.image_url())
    .bind(&user.external_id)
    .bind(user.created_at)
    .bind(user.updated_at.or(fallback_millis))
    .bind(data)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(if changed == 1 {
        Outcome::Applied
    } else {
        Outcome::Stale
    })
}

/// Marks a user deleted from `user.deleted`; a user never seen before gets a tombstone row, so a
/// `user.created` that arrives late cannot bring it back.
pub async fn delete(
    tx: &mut Tx<'_>,
    deleted: &DeletedObject,
    data: &str,
    occurred_millis: Option<i64>,
) -> Result<Outcome, sqlx::Error> {
    let changed = sqlx::query(
        "insert into clerk.users as u (id, data, deleted_at)
         values ($1, $2::jsonb, coalesce(clerk.from_millis($3), now()))
         on conflict (id) do update set deleted_at = excluded.deleted_at, synced_at = now()
         where u.deleted_at is null",
    )
    .bind(&deleted.id)
    .bind(data)
    .bind(occurred_millis)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(if changed == 1 {
        Outcome::Applied
    } else {
        Outcome::Stale
    })
}
