//! Typed Clerk webhook events.
//!
//! Parsing happens in two steps: the [`Envelope`] (`type`, `data` kept as raw JSON, `timestamp`,
//! `instance_id`, ...), then the typed payload chosen by `type` ([`ClerkEvent`]). Parsing is
//! lenient — fields Clerk may omit or null are `Option`, unknown fields are ignored — because the
//! published examples, older deliveries and Clerk's schemas disagree in places. A type we do not
//! model yet becomes [`ClerkEvent::Unknown`] and is still acknowledged and kept in the ledger.

mod user;

use serde::Deserialize;
use serde_json::value::RawValue;

pub use user::{DeletedObject, EmailAddress, Metadata, PhoneNumber, User};

/// The outer object of every Clerk webhook.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    /// The event type, e.g. `user.created`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Always `"event"` in deliveries seen so far.
    #[serde(default)]
    pub object: Option<String>,
    /// When Clerk emitted the event. Milliseconds in deliveries; some published examples use
    /// seconds, so read it through [`Envelope::occurred_at_millis`].
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// The Clerk instance (`ins_...`) that emitted the event; absent in older deliveries.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// Context of the request that caused the event. Holds personal data (IP, user agent).
    #[serde(default)]
    pub event_attributes: Option<EventAttributes>,
    /// The payload, kept verbatim: it is what lands in the `data` columns.
    pub data: Box<RawValue>,
}

/// `event_attributes` of an envelope.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventAttributes {
    /// The HTTP request that caused the event, when there was one.
    #[serde(default)]
    pub http_request: Option<HttpRequest>,
}

/// `event_attributes.http_request`: personal data, never logged.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HttpRequest {
    /// The client's IP address.
    #[serde(default)]
    pub client_ip: Option<String>,
    /// The client's user agent.
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// Any value below this is taken as seconds: as milliseconds it would fall in early 1973, long
/// before Clerk existed; as seconds it reaches the year 5138.
const SECONDS_OR_MILLIS_CUTOFF: i64 = 100_000_000_000;

impl Envelope {
    /// Parses the envelope of a verified body.
    pub fn parse(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }

    /// The envelope timestamp in milliseconds since the Unix epoch, whichever unit it came in.
    pub fn occurred_at_millis(&self) -> Option<i64> {
        self.timestamp.map(|ts| {
            if ts.abs() < SECONDS_OR_MILLIS_CUTOFF {
                ts.saturating_mul(1000)
            } else {
                ts
            }
        })
    }

    /// The `id` of the object in `data`, when it has one: what logs and the ledger identify an
    /// event by (a Clerk id is not personal data).
    pub fn object_id(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Id {
            id: Option<String>,
        }
        serde_json::from_str::<Id>(self.data.get()).ok()?.id
    }
}

/// A Clerk event with its typed payload.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClerkEvent {
    /// `user.created`: a user signed up or was created through the API.
    UserCreated(User),
    /// `user.updated`: any change to a user, with the whole new user.
    UserUpdated(User),
    /// `user.deleted`: a tombstone with the user's id.
    UserDeleted(DeletedObject),
    /// A type this version does not model: acknowledged and kept in the ledger as it came.
    Unknown {
        /// The event type as sent.
        event_type: String,
        /// The payload as sent.
        data: Box<RawValue>,
    },
}

impl ClerkEvent {
    /// Reads the typed payload that `envelope.event_type` announces.
    pub fn from_envelope(envelope: &Envelope) -> Result<Self, serde_json::Error> {
        let data = envelope.data.get();
        Ok(match envelope.event_type.as_str() {
            "user.created" => Self::UserCreated(serde_json::from_str(data)?),
            "user.updated" => Self::UserUpdated(serde_json::from_str(data)?),
            "user.deleted" => Self::UserDeleted(serde_json::from_str(data)?),
            _ => Self::Unknown {
                event_type: envelope.event_type.clone(),
                data: envelope.data.clone(),
            },
        })
    }
}

/// Reads `null` as the type's default, for lists Clerk sends as `[]`, `null` or not at all.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
