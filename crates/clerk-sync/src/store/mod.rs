//! SQL, and only here: the ledger, the projections with the rules they share, the typed reads,
//! the backfill cursors, the counts `stats` prints, and the statements about the session itself.
//!
//! Fixed statements are `query!` and friends, checked at compile time against the migrations
//! (the descriptions are committed in `.sqlx/`: `scripts/sqlx-prepare.sh`). What is built at run
//! time takes its variable parts as types (`&'static` table definitions, enums), never text.

pub mod cursors;
pub mod ledger;
pub mod projection;
pub mod reads;
pub mod session;
pub mod stats;
pub mod tables;

/// What applying one delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A projection changed.
    Applied,
    /// Older than what is stored (or already deleted): recorded, nothing changed.
    Stale,
    /// A message type kept in the ledger only (`email.created`, `sms.created`).
    Recorded,
    /// A type this version does not know: recorded in the ledger only.
    Unhandled,
    /// A known type whose payload this version could not read: recorded in the ledger only,
    /// for `clerk-sync replay --failed`.
    Failed,
    /// The svix-id was seen before: nothing changed at all.
    Duplicate,
}

impl Outcome {
    /// The ledger's `status` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Stale => "stale",
            Self::Recorded => "recorded",
            Self::Unhandled => "unhandled",
            Self::Failed => "failed",
            Self::Duplicate => "duplicate",
        }
    }
}

/// Now, in Unix milliseconds, as Clerk sends times.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The transaction every store function runs in.
pub type Tx<'c> = sqlx::Transaction<'c, sqlx::Postgres>;
