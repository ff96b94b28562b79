//! `organization.*`, `organizationDomain.*`, `organizationMembership.*` and
//! `organizationInvitation.*` payloads.

use serde::Deserialize;

use super::Metadata;

/// An organization. Times are Unix milliseconds.
#[derive(Debug, Clone, Deserialize)]
pub struct Organization {
    /// `org_...`
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// URL-friendly unique name.
    #[serde(default)]
    pub slug: Option<String>,
    /// Logo URL.
    #[serde(default)]
    pub image_url: Option<String>,
    /// The older name of the logo URL.
    #[serde(default)]
    pub logo_url: Option<String>,
    /// The user who created it.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Number of members.
    #[serde(default)]
    pub members_count: Option<i64>,
    /// Membership limit.
    #[serde(default)]
    pub max_allowed_memberships: Option<i64>,
    /// Metadata readable by the frontend.
    #[serde(default)]
    pub public_metadata: Option<Metadata>,
    /// Metadata only the backend can read.
    #[serde(default)]
    pub private_metadata: Option<Metadata>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<i64>,
}

impl Organization {
    /// The logo URL under either of its names.
    pub fn image_url(&self) -> Option<&str> {
        self.image_url.as_deref().or(self.logo_url.as_deref())
    }
}

/// A verified (or pending) email domain of an organization.
#[derive(Debug, Clone, Deserialize)]
pub struct OrganizationDomain {
    /// `orgdmn_...` (some examples say `orgdm_...`).
    pub id: String,
    /// The organization.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// The domain, e.g. `acme.com`.
    #[serde(default)]
    pub name: Option<String>,
    /// `manual_invitation`, `automatic_invitation` or `automatic_suggestion`.
    #[serde(default)]
    pub enrollment_mode: Option<String>,
    /// Verification state, when verification started.
    #[serde(default)]
    pub verification: Option<DomainVerification>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<i64>,
}

/// `organization_domain.verification`.
#[derive(Debug, Clone, Deserialize)]
pub struct DomainVerification {
    /// `unverified` or `verified`.
    #[serde(default)]
    pub status: Option<String>,
    /// How it is verified, e.g. `email_code`.
    #[serde(default)]
    pub strategy: Option<String>,
}

/// A user's membership in an organization. `organizationMembership.deleted` carries the whole
/// membership too, not only a tombstone.
#[derive(Debug, Clone, Deserialize)]
pub struct OrganizationMembership {
    /// `orgmem_...`
    pub id: String,
    /// Role key, e.g. `org:admin` (`admin` in older deliveries).
    #[serde(default)]
    pub role: Option<String>,
    /// Role display name.
    #[serde(default)]
    pub role_name: Option<String>,
    /// Permission keys the role grants.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub permissions: Vec<String>,
    /// The organization, embedded.
    #[serde(default)]
    pub organization: Option<Organization>,
    /// The member, as the organization may see them.
    #[serde(default)]
    pub public_user_data: Option<PublicUserData>,
    /// Metadata readable by the frontend.
    #[serde(default)]
    pub public_metadata: Option<Metadata>,
    /// Metadata only the backend can read.
    #[serde(default)]
    pub private_metadata: Option<Metadata>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<i64>,
}

impl OrganizationMembership {
    /// The organization's id.
    pub fn organization_id(&self) -> Option<&str> {
        self.organization.as_ref().map(|org| org.id.as_str())
    }

    /// The member's user id.
    pub fn user_id(&self) -> Option<&str> {
        self.public_user_data.as_ref()?.user_id.as_deref()
    }
}

/// The public part of a user, embedded in memberships.
#[derive(Debug, Clone, Deserialize)]
pub struct PublicUserData {
    /// `user_...`
    #[serde(default)]
    pub user_id: Option<String>,
    /// Given name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Avatar URL.
    #[serde(default)]
    pub image_url: Option<String>,
    /// The identifier the user signs in with (often an email address).
    #[serde(default)]
    pub identifier: Option<String>,
}

/// An invitation to join an organization.
#[derive(Debug, Clone, Deserialize)]
pub struct OrganizationInvitation {
    /// `orginv_...`
    pub id: String,
    /// Who was invited.
    #[serde(default)]
    pub email_address: Option<String>,
    /// The organization.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// Role key the invitee will get.
    #[serde(default)]
    pub role: Option<String>,
    /// `pending`, `accepted`, `revoked` or `expired`.
    #[serde(default)]
    pub status: Option<String>,
    /// The user who accepted, once accepted.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Expiry.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Metadata readable by the frontend.
    #[serde(default)]
    pub public_metadata: Option<Metadata>,
    /// Metadata only the backend can read.
    #[serde(default)]
    pub private_metadata: Option<Metadata>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<i64>,
}
