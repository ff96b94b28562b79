//! Typed reads of the synced tables: what a handler asks instead of calling Clerk.
//!
//! Each read returns the structures the webhook events parse into ([`User`], [`Organization`],
//! [`OrganizationMembership`], [`Session`]), read back from the payload stored verbatim in the
//! row's `data`, wrapped in [`Synced`] (which instance it came from, whether it is deleted).
//! A [`Scope`] says which Clerk instance to read (a development and a production instance can
//! share one database) and whether deleted objects count; [`Scope::default`] reads any
//! instance and skips deleted objects.
//!
//! | read | index |
//! | --- | --- |
//! | [`user`] | `clerk_users_pkey` |
//! | [`user_by_email`] | `users_primary_email_idx` (`lower(primary_email)`) |
//! | [`user_by_external_id`] | `users_external_id_idx` |
//! | [`organization_with_members`] | `clerk_organizations_pkey`, `organization_memberships_organization_id_idx`, `clerk_users_pkey` |
//! | [`memberships_of_user`] | `organization_memberships_user_id_idx` |
//! | [`active_sessions_of_user`] | `sessions_user_id_idx` |
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool) -> Result<(), clerk_sync::reads::ReadError> {
//! use clerk_sync::reads::{self, Scope};
//!
//! let scope = Scope::instance("ins_2abc");
//! if let Some(user) = reads::user_by_email(&pool, "Ada@Example.com", scope).await? {
//!     println!("{} {:?}", user.id, user.first_name);
//! }
//! # Ok(())
//! # }
//! ```

use std::ops::Deref;

use serde::de::DeserializeOwned;
use sqlx::{Acquire, PgExecutor, Postgres};

use crate::clerk::{Organization, OrganizationMembership, Session, User};
use crate::store::reads::{self as sql, Stored};

/// Which Clerk instance a read looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Instance<'a> {
    /// Every instance, and rows whose instance is unknown (written before it was recorded).
    #[default]
    Any,
    /// Only rows from this instance (`ins_...`).
    Only(&'a str),
}

/// Whether a read returns deleted objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Deleted {
    /// Skip them: what a handler almost always wants.
    #[default]
    Skip,
    /// Return them too, marked [`Synced::deleted`].
    Include,
}

/// What a read looks at: an instance, and whether deleted objects count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope<'a> {
    /// Which instance.
    pub instance: Instance<'a>,
    /// Deleted objects or not.
    pub deleted: Deleted,
}

impl<'a> Scope<'a> {
    /// Only instance `id` (`ins_...`), deleted objects skipped.
    pub const fn instance(id: &'a str) -> Self {
        Self {
            instance: Instance::Only(id),
            deleted: Deleted::Skip,
        }
    }

    /// The same scope, with deleted objects returned too.
    pub const fn with_deleted(self) -> Self {
        Self {
            deleted: Deleted::Include,
            ..self
        }
    }

    fn instance_id(&self) -> Option<&'a str> {
        match self.instance {
            Instance::Any => None,
            Instance::Only(id) => Some(id),
        }
    }

    fn with_deleted_rows(&self) -> bool {
        self.deleted == Deleted::Include
    }
}

/// An object as synced: the typed payload, and where it stands. Dereferences to the object.
#[derive(Debug, Clone)]
pub struct Synced<T> {
    /// The object, as its last applied event carried it.
    pub object: T,
    /// The Clerk instance it came from, when known.
    pub instance_id: Option<String>,
    /// Deleted in Clerk (only ever true with [`Deleted::Include`]). An object deleted before
    /// any other event of it arrived holds only what the deletion carried: its id.
    pub deleted: bool,
}

impl<T> Deref for Synced<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.object
    }
}

/// A member of an organization: the membership, and the user when it is synced.
#[derive(Debug, Clone)]
pub struct Member {
    /// The membership (role, permissions, `public_user_data`).
    pub membership: Synced<OrganizationMembership>,
    /// The member's synced user; `None` while its `user.created` has not arrived.
    pub user: Option<Synced<User>>,
}

/// An organization with its members.
#[derive(Debug, Clone)]
pub struct OrganizationWithMembers {
    /// The organization.
    pub organization: Synced<Organization>,
    /// Its members, oldest membership first.
    pub members: Vec<Member>,
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A stored payload does not fit its type (it was written by a version that read it
    /// differently; `clerk-sync replay` rewrites it).
    #[error("a stored payload does not fit its type: {0}")]
    Payload(String),
}

fn parse<T: DeserializeOwned>(row: Stored) -> Result<Synced<T>, ReadError> {
    let object = serde_json::from_str(&row.data)
        .map_err(|err| ReadError::Payload(crate::clerk::describe_json_error(&err)))?;
    Ok(Synced {
        object,
        instance_id: row.instance_id,
        deleted: row.deleted,
    })
}

fn parse_all<T: DeserializeOwned>(rows: Vec<Stored>) -> Result<Vec<Synced<T>>, ReadError> {
    rows.into_iter().map(parse).collect()
}

/// The user with Clerk id `id` (`user_...`).
pub async fn user(
    db: impl PgExecutor<'_>,
    id: &str,
    scope: Scope<'_>,
) -> Result<Option<Synced<User>>, ReadError> {
    sql::user_by_id(db, id, scope.instance_id(), scope.with_deleted_rows())
        .await?
        .map(parse)
        .transpose()
}

/// The user whose primary email address is `email`, ignoring case. When several match (an
/// address reused after a deletion, or in two instances under [`Instance::Any`]), a live user
/// before a deleted one, then the most recently updated.
pub async fn user_by_email(
    db: impl PgExecutor<'_>,
    email: &str,
    scope: Scope<'_>,
) -> Result<Option<Synced<User>>, ReadError> {
    sql::user_by_email(db, email, scope.instance_id(), scope.with_deleted_rows())
        .await?
        .map(parse)
        .transpose()
}

/// The user whose `external_id` (your own id for them) is `external_id`; several match as in
/// [`user_by_email`].
pub async fn user_by_external_id(
    db: impl PgExecutor<'_>,
    external_id: &str,
    scope: Scope<'_>,
) -> Result<Option<Synced<User>>, ReadError> {
    sql::user_by_external_id(
        db,
        external_id,
        scope.instance_id(),
        scope.with_deleted_rows(),
    )
    .await?
    .map(parse)
    .transpose()
}

/// The organization with Clerk id `id` (`org_...`) and its members joined to their users.
/// Members who left (their membership deleted) are skipped unless the scope includes deleted
/// objects.
pub async fn organization_with_members<'c>(
    db: impl Acquire<'c, Database = Postgres>,
    id: &str,
    scope: Scope<'_>,
) -> Result<Option<OrganizationWithMembers>, ReadError> {
    let Some((organization, members)) =
        sql::organization_with_members(db, id, scope.instance_id(), scope.with_deleted_rows())
            .await?
    else {
        return Ok(None);
    };
    let members = members
        .into_iter()
        .map(|member| {
            Ok(Member {
                membership: parse(member.membership)?,
                user: member.user.map(parse).transpose()?,
            })
        })
        .collect::<Result<_, ReadError>>()?;
    Ok(Some(OrganizationWithMembers {
        organization: parse(organization)?,
        members,
    }))
}

/// The organization memberships of user `user_id`, oldest first; each membership's payload
/// names its organization.
pub async fn memberships_of_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
    scope: Scope<'_>,
) -> Result<Vec<Synced<OrganizationMembership>>, ReadError> {
    parse_all(
        sql::memberships_of_user(db, user_id, scope.instance_id(), scope.with_deleted_rows())
            .await?,
    )
}

/// The active sessions of user `user_id` (status `active` and not past `expire_at`), most
/// recently active first.
pub async fn active_sessions_of_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
    scope: Scope<'_>,
) -> Result<Vec<Synced<Session>>, ReadError> {
    parse_all(
        sql::active_sessions_of_user(db, user_id, scope.instance_id(), scope.with_deleted_rows())
            .await?,
    )
}
