//! `role.*` and `permission.*` payloads: the instance's organization roles and permissions.

use serde::Deserialize;

/// An organization role.
#[derive(Debug, Clone, Deserialize)]
pub struct Role {
    /// `role_...`
    pub id: String,
    /// Key, e.g. `org:admin`.
    #[serde(default)]
    pub key: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether a creator of an organization may get this role.
    #[serde(default)]
    pub is_creator_eligible: Option<bool>,
    /// The permissions the role grants.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub permissions: Vec<Permission>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<i64>,
}

/// An organization permission.
#[derive(Debug, Clone, Deserialize)]
pub struct Permission {
    /// `perm_...`
    pub id: String,
    /// Key, e.g. `org:posts:create`.
    #[serde(default)]
    pub key: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// `system`, `custom` (or `user` in older deliveries).
    #[serde(default, rename = "type")]
    pub permission_type: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<i64>,
}
