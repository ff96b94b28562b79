//! `session.*` payloads.

use serde::Deserialize;

use super::User;

/// A sign-in session, as in every `session.*` event. Times are Unix milliseconds.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    /// `sess_...`
    pub id: String,
    /// The signed-in user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The device/browser client the session lives in.
    #[serde(default)]
    pub client_id: Option<String>,
    /// `active`, `pending`, `ended`, `removed`, `revoked`, `expired`, `abandoned`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// The organization the user last had active in this session.
    #[serde(default)]
    pub last_active_organization_id: Option<String>,
    /// Last activity.
    #[serde(default)]
    pub last_active_at: Option<i64>,
    /// When the session expires if it stays active.
    #[serde(default)]
    pub expire_at: Option<i64>,
    /// When an inactive session is abandoned.
    #[serde(default)]
    pub abandon_at: Option<i64>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<i64>,
    /// The whole user, in recent deliveries (absent from older ones). Not projected from here:
    /// `user.*` events own `clerk.users`.
    #[serde(default)]
    pub user: Option<Box<User>>,
}
