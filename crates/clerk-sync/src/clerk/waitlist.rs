//! `waitlistEntry.*` payloads.

use serde::Deserialize;

/// Someone on the instance's waitlist.
#[derive(Debug, Clone, Deserialize)]
pub struct WaitlistEntry {
    /// `wle_...`
    pub id: String,
    /// Who joined the waitlist.
    #[serde(default)]
    pub email_address: Option<String>,
    /// `pending`, `invited`, `rejected`, `completed`.
    #[serde(default)]
    pub status: Option<String>,
    /// Whether the entry is locked.
    #[serde(default)]
    pub is_locked: Option<bool>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<i64>,
}
