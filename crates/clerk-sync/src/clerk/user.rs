//! `user.*` payloads.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::null_as_default;

/// A Clerk user, as in `user.created` and `user.updated`. Times are Unix milliseconds.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// `user_...`
    pub id: String,
    /// Your own id for this user, if you set one.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Which of `email_addresses` is the primary one.
    #[serde(default)]
    pub primary_email_address_id: Option<String>,
    /// Which of `phone_numbers` is the primary one.
    #[serde(default)]
    pub primary_phone_number_id: Option<String>,
    /// Username, when the instance uses them.
    #[serde(default)]
    pub username: Option<String>,
    /// Given name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Avatar URL.
    #[serde(default)]
    pub image_url: Option<String>,
    /// The older name of the avatar URL, still sent beside `image_url`.
    #[serde(default)]
    pub profile_image_url: Option<String>,
    /// All email addresses; the primary one is named by `primary_email_address_id`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub email_addresses: Vec<EmailAddress>,
    /// All phone numbers; the primary one is named by `primary_phone_number_id`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub phone_numbers: Vec<PhoneNumber>,
    /// Metadata readable by the frontend, writable by the backend.
    #[serde(default)]
    pub public_metadata: Option<Metadata>,
    /// Metadata only the backend can read.
    #[serde(default)]
    pub private_metadata: Option<Metadata>,
    /// Metadata the frontend can write.
    #[serde(default)]
    pub unsafe_metadata: Option<Metadata>,
    /// Whether the user is banned.
    #[serde(default)]
    pub banned: Option<bool>,
    /// Whether the user is locked out.
    #[serde(default)]
    pub locked: Option<bool>,
    /// Last sign-in.
    #[serde(default)]
    pub last_sign_in_at: Option<i64>,
    /// Last activity.
    #[serde(default)]
    pub last_active_at: Option<i64>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Last change: the order in which user events apply.
    #[serde(default)]
    pub updated_at: Option<i64>,
}

impl User {
    /// The address whose id is `primary_email_address_id` (not simply the first one).
    pub fn primary_email(&self) -> Option<&str> {
        let id = self.primary_email_address_id.as_deref()?;
        self.email_addresses
            .iter()
            .find(|email| email.id.as_deref() == Some(id))
            .map(|email| email.email_address.as_str())
    }

    /// The number whose id is `primary_phone_number_id`.
    pub fn primary_phone_number(&self) -> Option<&str> {
        let id = self.primary_phone_number_id.as_deref()?;
        self.phone_numbers
            .iter()
            .find(|phone| phone.id.as_deref() == Some(id))
            .map(|phone| phone.phone_number.as_str())
    }

    /// The avatar URL under either of its names.
    pub fn image_url(&self) -> Option<&str> {
        self.image_url
            .as_deref()
            .or(self.profile_image_url.as_deref())
    }
}

/// One of a user's email addresses.
#[derive(Debug, Clone, Deserialize)]
pub struct EmailAddress {
    /// `idn_...`
    #[serde(default)]
    pub id: Option<String>,
    /// The address.
    pub email_address: String,
}

/// One of a user's phone numbers.
#[derive(Debug, Clone, Deserialize)]
pub struct PhoneNumber {
    /// `idn_...`
    #[serde(default)]
    pub id: Option<String>,
    /// The number, in E.164 form.
    pub phone_number: String,
}

/// `{id, object, deleted}`: what Clerk sends when something is deleted.
#[derive(Debug, Clone, Deserialize)]
pub struct DeletedObject {
    /// The id of what was deleted.
    pub id: String,
    /// The kind of object, e.g. `user`.
    #[serde(default)]
    pub object: Option<String>,
    /// Always `true` when present.
    #[serde(default)]
    pub deleted: Option<bool>,
}

/// A metadata object, kept as raw JSON until you read it into your own type.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Metadata(Box<RawValue>);

impl Metadata {
    /// Reads the metadata into `T` (your own struct, or `serde_json::Value`).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// The metadata as JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}
