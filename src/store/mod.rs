//! SQL, and only here: one function per step, each over the caller's transaction.

pub mod ledger;
pub mod users;

/// What applying one delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The projection changed.
    Applied,
    /// Older than what is stored, or aimed at a deleted object: recorded, nothing changed.
    Stale,
    /// A type this version does not project: recorded in the ledger only.
    Unhandled,
    /// The svix-id was seen before: nothing changed at all.
    Duplicate,
}

impl Outcome {
    /// The ledger's `status` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Stale => "stale",
            Self::Unhandled => "unhandled",
            Self::Duplicate => "duplicate",
        }
    }
}

/// The transaction every store function runs in.
pub type Tx<'c> = sqlx::Transaction<'c, sqlx::Postgres>;
