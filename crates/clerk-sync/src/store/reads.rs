//! The statements behind [`crate::reads`]: each finds rows through an index on its first
//! condition, then filters on the instance (`$2`, null for any) and on deletion (`$3`, true to
//! keep deleted rows). Which index each uses is in its doc, and in the README ("Reading synced
//! data"); a read that stops using it shows in `EXPLAIN`.

use sqlx::{Acquire, PgExecutor, Postgres};

/// A stored row: the payload verbatim, the instance it came from, whether it is deleted.
#[derive(Debug)]
pub struct Stored {
    /// `data`, as text.
    pub data: String,
    /// `instance_id`.
    pub instance_id: Option<String>,
    /// `deleted_at is not null`.
    pub deleted: bool,
}

/// A membership row with its user's row, when that user is synced (and not filtered out).
#[derive(Debug)]
pub struct StoredMember {
    /// The membership.
    pub membership: Stored,
    /// The user, if synced.
    pub user: Option<Stored>,
}

/// `clerk.users` by id: the primary key `clerk_users_pkey`.
pub async fn user_by_id(
    db: impl PgExecutor<'_>,
    id: &str,
    instance: Option<&str>,
    with_deleted: bool,
) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as!(
        Stored,
        r#"select data::text as "data!", instance_id, deleted_at is not null as "deleted!"
           from clerk.users
           where id = $1 and ($2::text is null or instance_id = $2)
             and ($3 or deleted_at is null)"#,
        id,
        instance,
        with_deleted,
    )
    .fetch_optional(db)
    .await
}

/// `clerk.users` by primary email, compared lowercased on both sides: the expression index
/// `users_primary_email_idx` on `lower(primary_email)`. Both sides use the column's collation,
/// so the comparison and the index agree under ICU and C alike. An address can match several
/// rows (reused after a deletion, or in two instances): live rows first, then the most recently
/// updated.
pub async fn user_by_email(
    db: impl PgExecutor<'_>,
    email: &str,
    instance: Option<&str>,
    with_deleted: bool,
) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as!(
        Stored,
        r#"select data::text as "data!", instance_id, deleted_at is not null as "deleted!"
           from clerk.users
           where lower(primary_email) = lower($1) and ($2::text is null or instance_id = $2)
             and ($3 or deleted_at is null)
           order by deleted_at is not null, updated_at desc nulls last, id
           limit 1"#,
        email,
        instance,
        with_deleted,
    )
    .fetch_optional(db)
    .await
}

/// `clerk.users` by external id: the index `users_external_id_idx`. Ordered as
/// [`user_by_email`].
pub async fn user_by_external_id(
    db: impl PgExecutor<'_>,
    external_id: &str,
    instance: Option<&str>,
    with_deleted: bool,
) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as!(
        Stored,
        r#"select data::text as "data!", instance_id, deleted_at is not null as "deleted!"
           from clerk.users
           where external_id = $1 and ($2::text is null or instance_id = $2)
             and ($3 or deleted_at is null)
           order by deleted_at is not null, updated_at desc nulls last, id
           limit 1"#,
        external_id,
        instance,
        with_deleted,
    )
    .fetch_optional(db)
    .await
}

/// `clerk.organizations` by id (the primary key `clerk_organizations_pkey`), then its
/// memberships (the index `organization_memberships_organization_id_idx`) joined to their
/// users (the primary key `clerk_users_pkey`), oldest membership first. Two statements on
/// one connection.
pub async fn organization_with_members<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    id: &str,
    instance: Option<&str>,
    with_deleted: bool,
) -> Result<Option<(Stored, Vec<StoredMember>)>, sqlx::Error> {
    let mut conn = db.acquire().await?;
    let Some(organization) = sqlx::query_as!(
        Stored,
        r#"select data::text as "data!", instance_id, deleted_at is not null as "deleted!"
           from clerk.organizations
           where id = $1 and ($2::text is null or instance_id = $2)
             and ($3 or deleted_at is null)"#,
        id,
        instance,
        with_deleted,
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let rows = sqlx::query!(
        r#"select m.data::text as "membership!", m.instance_id as "membership_instance?",
                  m.deleted_at is not null as "membership_deleted!",
                  u.data::text as "user?", u.instance_id as "user_instance?",
                  u.deleted_at is not null as "user_deleted?"
           from clerk.organization_memberships m
           left join clerk.users u
             on u.id = m.user_id and ($2::text is null or u.instance_id = $2)
            and ($3 or u.deleted_at is null)
           where m.organization_id = $1 and ($2::text is null or m.instance_id = $2)
             and ($3 or m.deleted_at is null)
           order by m.created_at nulls last, m.id"#,
        id,
        instance,
        with_deleted,
    )
    .fetch_all(&mut *conn)
    .await?;
    let members = rows
        .into_iter()
        .map(|row| StoredMember {
            membership: Stored {
                data: row.membership,
                instance_id: row.membership_instance,
                deleted: row.membership_deleted,
            },
            user: row.user.map(|data| Stored {
                data,
                instance_id: row.user_instance,
                deleted: row.user_deleted.unwrap_or(false),
            }),
        })
        .collect();
    Ok(Some((organization, members)))
}

/// `clerk.organization_memberships` of a user: the index
/// `organization_memberships_user_id_idx`, oldest first.
pub async fn memberships_of_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
    instance: Option<&str>,
    with_deleted: bool,
) -> Result<Vec<Stored>, sqlx::Error> {
    sqlx::query_as!(
        Stored,
        r#"select data::text as "data!", instance_id, deleted_at is not null as "deleted!"
           from clerk.organization_memberships
           where user_id = $1 and ($2::text is null or instance_id = $2)
             and ($3 or deleted_at is null)
           order by created_at nulls last, id"#,
        user_id,
        instance,
        with_deleted,
    )
    .fetch_all(db)
    .await
}

/// The active sessions of a user (`status = 'active'`, not past `expire_at`): the index
/// `sessions_user_id_idx`, most recently active first. Clerk sends no event when a session
/// expires, hence the time check.
pub async fn active_sessions_of_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
    instance: Option<&str>,
    with_deleted: bool,
) -> Result<Vec<Stored>, sqlx::Error> {
    sqlx::query_as!(
        Stored,
        r#"select data::text as "data!", instance_id, deleted_at is not null as "deleted!"
           from clerk.sessions
           where user_id = $1 and status = 'active' and (expire_at is null or expire_at > now())
             and ($2::text is null or instance_id = $2) and ($3 or deleted_at is null)
           order by last_active_at desc nulls last, id"#,
        user_id,
        instance,
        with_deleted,
    )
    .fetch_all(db)
    .await
}
