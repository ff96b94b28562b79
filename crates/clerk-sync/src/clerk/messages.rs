//! `email.created` and `sms.created`: messages Clerk asks *you* to deliver when you send your
//! own emails or SMS (`delivered_by_clerk: false`). They are kept in the ledger, not projected;
//! act on them in a hook (see the crate docs).

use serde::Deserialize;
use serde_json::value::RawValue;

/// An email Clerk generated.
#[derive(Debug, Clone, Deserialize)]
pub struct Email {
    /// `ema_...`
    pub id: String,
    /// Which template, e.g. `verification_code`, `magic_link_sign_in`.
    #[serde(default)]
    pub slug: Option<String>,
    /// The recipient.
    #[serde(default)]
    pub to_email_address: Option<String>,
    /// The recipient's email address id.
    #[serde(default)]
    pub email_address_id: Option<String>,
    /// The recipient user, when there is one.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The local part of the sender address.
    #[serde(default)]
    pub from_email_name: Option<String>,
    /// Subject line.
    #[serde(default)]
    pub subject: Option<String>,
    /// HTML body.
    #[serde(default)]
    pub body: Option<String>,
    /// Plain-text body.
    #[serde(default)]
    pub body_plain: Option<String>,
    /// `queued`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// `false` when you must send it yourself.
    #[serde(default)]
    pub delivered_by_clerk: Option<bool>,
    /// Template variables (OTP code, app name, ...), as raw JSON.
    #[serde(default)]
    pub data: Option<Box<RawValue>>,
}

/// An SMS Clerk generated.
#[derive(Debug, Clone, Deserialize)]
pub struct Sms {
    /// `sms_...`
    pub id: String,
    /// Which template, e.g. `verification_code`.
    #[serde(default)]
    pub slug: Option<String>,
    /// Sender number.
    #[serde(default)]
    pub from_phone_number: Option<String>,
    /// Recipient number.
    #[serde(default)]
    pub to_phone_number: Option<String>,
    /// The recipient's phone number id.
    #[serde(default)]
    pub phone_number_id: Option<String>,
    /// The recipient user, when there is one.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The text to send.
    #[serde(default)]
    pub message: Option<String>,
    /// `queued`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// `false` when you must send it yourself.
    #[serde(default)]
    pub delivered_by_clerk: Option<bool>,
    /// Creation time (Unix ms); Clerk's schema calls it `created_at_ms`, examples `created_at`.
    #[serde(default, alias = "created_at_ms")]
    pub created_at: Option<i64>,
}
