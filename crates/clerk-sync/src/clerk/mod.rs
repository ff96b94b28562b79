//! Typed Clerk webhook events.
//!
//! Parsing happens in two steps: the [`Envelope`] (`type`, `data` kept as raw JSON, `timestamp`,
//! `instance_id`, ...), then the typed payload chosen by `type` ([`ClerkEvent`]). Parsing is
//! lenient — fields Clerk may omit or null are `Option`, unknown fields are ignored — because the
//! published examples, older deliveries and Clerk's schemas disagree in places. A type we do not
//! model yet becomes [`ClerkEvent::Unknown`] and is still acknowledged and kept in the ledger.

mod access;
mod billing;
mod messages;
mod organization;
mod session;
mod user;
mod waitlist;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::store::projection::Rank::{Changed, Created, Final};
use crate::store::tables::{ORGANIZATIONS, ORGANIZATION_DOMAINS, PERMISSIONS, ROLES, USERS};
use crate::sync::{delete, record, write, write_then_delete, Change};

pub use access::{Permission, Role};
pub use billing::{Money, Payer, PaymentAttempt, Plan, Subscription, SubscriptionItem, Totals};
pub use messages::{Email, Sms};
pub use organization::{
    DomainVerification, Organization, OrganizationDomain, OrganizationInvitation,
    OrganizationMembership, PublicUserData,
};
pub use session::Session;
pub use user::{DeletedObject, EmailAddress, Metadata, PhoneNumber, User};
pub use waitlist::WaitlistEntry;

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

/// Why a body is not an event envelope we can store.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON, or not the envelope's shape.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Valid JSON that Postgres could not store or that is no event.
    #[error("{0}")]
    Unstorable(&'static str),
}

impl EnvelopeError {
    /// Why, by category and position only: never a value from the body (personal data).
    pub fn describe(&self) -> String {
        match self {
            Self::Json(err) => describe_json_error(err),
            Self::Unstorable(reason) => (*reason).to_owned(),
        }
    }
}

/// Deepest nesting we store; Clerk payloads nest a handful of levels. Postgres refuses deep
/// `jsonb` (a stack-depth error), and serde skips raw values without a depth limit.
const MAX_DEPTH: usize = 64;

impl Envelope {
    /// Parses the envelope of a verified body, and refuses what could never be stored: a type
    /// that is no event type name, `data` that is not an object, nesting deeper than 64 levels,
    /// or a `\u0000` escape (Postgres cannot store U+0000). Refusing these up front answers them
    /// 422 instead of a 503 that Svix would retry for a day to no avail.
    pub fn parse(body: &str) -> Result<Self, EnvelopeError> {
        let envelope: Self = serde_json::from_str(body)?;
        let event_type = envelope.event_type.as_str();
        if event_type.is_empty()
            || event_type.len() > 128
            || !event_type.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(EnvelopeError::Unstorable(
                "the type is not an event type name",
            ));
        }
        if !envelope.data.get().starts_with('{') {
            return Err(EnvelopeError::Unstorable("data is not a JSON object"));
        }
        if let Some(reason) = unstorable(body) {
            return Err(EnvelopeError::Unstorable(reason));
        }
        Ok(envelope)
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
        object_id(self.data.get())
    }
}

/// Declares [`ClerkEvent`] from one table of `"type" => Variant(Payload): step(..)` lines, so
/// the enum, the parser, the type names and what each event does to the projections cannot
/// drift apart. The step is one of [`crate::sync`]'s `write(rank)`, `delete(&TABLE)`,
/// `write_then_delete()` and `record()`, called with the payload first: `write` takes only a
/// payload that has a table, `delete` only a deleted object's id, or it does not compile.
macro_rules! clerk_events {
    ($(
        $(#[$doc:meta])*
        $event_type:literal => $variant:ident($payload:ty): $step:ident($($arg:expr),*),
    )*) => {
        /// A Clerk event with its typed payload: one variant per event type Clerk documents, and
        /// [`ClerkEvent::Unknown`] for any other.
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum ClerkEvent {
            $( $(#[$doc])* $variant($payload), )*
            /// A type this version does not model: acknowledged and kept in the ledger as it came.
            Unknown {
                /// The event type as sent.
                event_type: String,
                /// The payload as sent.
                data: Box<RawValue>,
            },
            /// A type this version models, with a payload that does not fit the model (Clerk
            /// changed a field, or our model is wrong). Kept in the ledger with status `failed`,
            /// so `clerk-sync replay --failed` can apply it once a fixed version is deployed.
            Unparsed {
                /// The event type as sent.
                event_type: String,
                /// The payload as sent.
                data: Box<RawValue>,
                /// What did not fit, by category and position only (never a value).
                reason: String,
            },
        }

        impl ClerkEvent {
            /// Every event type with a typed variant.
            pub const KNOWN_TYPES: &'static [&'static str] = &[$($event_type),*];

            /// Reads the typed payload that `envelope.event_type` announces.
            pub fn from_envelope(envelope: &Envelope) -> Result<Self, serde_json::Error> {
                let data = envelope.data.get();
                Ok(match envelope.event_type.as_str() {
                    $( $event_type => Self::$variant(serde_json::from_str(data)?), )*
                    _ => Self::Unknown {
                        event_type: envelope.event_type.clone(),
                        data: envelope.data.clone(),
                    },
                })
            }

            /// Reads the typed payload like [`ClerkEvent::from_envelope`], but keeps a payload
            /// that does not fit its type as [`ClerkEvent::Unparsed`] instead of failing.
            pub fn read(envelope: &Envelope) -> Self {
                Self::from_envelope(envelope).unwrap_or_else(|err| Self::Unparsed {
                    event_type: envelope.event_type.clone(),
                    data: envelope.data.clone(),
                    reason: describe_json_error(&err),
                })
            }

            /// The `id` of the payload's object; `None` for [`ClerkEvent::Unknown`] and
            /// [`ClerkEvent::Unparsed`] (see [`Envelope::object_id`]).
            pub fn object_id(&self) -> Option<&str> {
                match self {
                    $( Self::$variant(payload) => Some(&payload.id), )*
                    Self::Unknown { .. } | Self::Unparsed { .. } => None,
                }
            }

            /// What the event, from Clerk instance `instance`, does to the projections, as the
            /// catalogue lists it.
            pub(crate) fn changes(&self, instance: Option<&str>) -> Vec<Change<'_>> {
                match self {
                    $( Self::$variant(payload) => $step(payload, instance $(, $arg)*), )*
                    Self::Unknown { .. } => vec![Change::Unhandled],
                    Self::Unparsed { .. } => vec![Change::Failed],
                }
            }

            /// The event type, e.g. `user.created`.
            pub fn event_type(&self) -> &str {
                match self {
                    $( Self::$variant(_) => $event_type, )*
                    Self::Unknown { event_type, .. } | Self::Unparsed { event_type, .. } => {
                        event_type
                    }
                }
            }
        }
    };
}

clerk_events! {
    /// A user signed up or was created through the API.
    "user.created" => UserCreated(User): write(Created),
    /// Any change to a user; carries the whole new user.
    "user.updated" => UserUpdated(User): write(Changed),
    /// A user was deleted: a tombstone.
    "user.deleted" => UserDeleted(DeletedObject): delete(&USERS),

    /// A user signed in.
    "session.created" => SessionCreated(Session): write(Created),
    /// A session is waiting for a step (e.g. choosing an organization) before it is active.
    "session.pending" => SessionPending(Session): write(Changed),
    /// The user signed out.
    "session.ended" => SessionEnded(Session): write(Final),
    /// The session was removed from its client.
    "session.removed" => SessionRemoved(Session): write(Final),
    /// The session was revoked (by the user elsewhere, or through the API).
    "session.revoked" => SessionRevoked(Session): write(Final),

    /// An organization was created.
    "organization.created" => OrganizationCreated(Organization): write(Created),
    /// An organization changed.
    "organization.updated" => OrganizationUpdated(Organization): write(Changed),
    /// An organization was deleted: a tombstone.
    "organization.deleted" => OrganizationDeleted(DeletedObject): delete(&ORGANIZATIONS),

    /// A domain was added to an organization.
    "organizationDomain.created" => OrganizationDomainCreated(OrganizationDomain): write(Created),
    /// An organization domain changed (e.g. was verified).
    "organizationDomain.updated" => OrganizationDomainUpdated(OrganizationDomain): write(Changed),
    /// An organization domain was removed: a tombstone.
    "organizationDomain.deleted" => OrganizationDomainDeleted(DeletedObject):
        delete(&ORGANIZATION_DOMAINS),

    /// A user joined an organization.
    "organizationMembership.created" => OrganizationMembershipCreated(OrganizationMembership):
        write(Created),
    /// A membership changed (e.g. its role).
    "organizationMembership.updated" => OrganizationMembershipUpdated(OrganizationMembership):
        write(Changed),
    /// A user left or was removed; Clerk sends the whole membership, not a tombstone.
    "organizationMembership.deleted" => OrganizationMembershipDeleted(OrganizationMembership):
        write_then_delete(),

    /// Someone was invited to an organization.
    "organizationInvitation.created" => OrganizationInvitationCreated(OrganizationInvitation):
        write(Created),
    /// An invitation was accepted.
    "organizationInvitation.accepted" => OrganizationInvitationAccepted(OrganizationInvitation):
        write(Final),
    /// An invitation was revoked.
    "organizationInvitation.revoked" => OrganizationInvitationRevoked(OrganizationInvitation):
        write(Final),

    /// An email for you to deliver (when you send Clerk's emails yourself). Ledger only.
    "email.created" => EmailCreated(Email): record(),
    /// An SMS for you to deliver (when you send Clerk's SMS yourself). Ledger only.
    "sms.created" => SmsCreated(Sms): record(),

    /// An organization role was created.
    "role.created" => RoleCreated(Role): write(Created),
    /// A role changed.
    "role.updated" => RoleUpdated(Role): write(Changed),
    /// A role was deleted: a tombstone.
    "role.deleted" => RoleDeleted(DeletedObject): delete(&ROLES),

    /// An organization permission was created.
    "permission.created" => PermissionCreated(Permission): write(Created),
    /// A permission changed.
    "permission.updated" => PermissionUpdated(Permission): write(Changed),
    /// A permission was deleted: a tombstone.
    "permission.deleted" => PermissionDeleted(DeletedObject): delete(&PERMISSIONS),

    /// Someone joined the waitlist.
    "waitlistEntry.created" => WaitlistEntryCreated(WaitlistEntry): write(Created),
    /// A waitlist entry changed (e.g. was invited).
    "waitlistEntry.updated" => WaitlistEntryUpdated(WaitlistEntry): write(Changed),

    /// A billing subscription was created.
    "subscription.created" => SubscriptionCreated(Subscription): write(Created),
    /// A subscription changed.
    "subscription.updated" => SubscriptionUpdated(Subscription): write(Changed),
    /// A subscription became active.
    "subscription.active" => SubscriptionActive(Subscription): write(Changed),
    /// A subscription's payment is overdue.
    "subscription.pastDue" => SubscriptionPastDue(Subscription): write(Changed),

    /// A subscription item was created (declared by Clerk's SDK; no published example).
    "subscriptionItem.created" => SubscriptionItemCreated(SubscriptionItem): write(Created),
    /// A subscription item changed.
    "subscriptionItem.updated" => SubscriptionItemUpdated(SubscriptionItem): write(Changed),
    /// A subscription item became active.
    "subscriptionItem.active" => SubscriptionItemActive(SubscriptionItem): write(Changed),
    /// A subscription item is scheduled to start.
    "subscriptionItem.upcoming" => SubscriptionItemUpcoming(SubscriptionItem): write(Created),
    /// A free trial ends soon.
    "subscriptionItem.freeTrialEnding" => SubscriptionItemFreeTrialEnding(SubscriptionItem):
        write(Changed),
    /// A subscription item's payment is overdue.
    "subscriptionItem.pastDue" => SubscriptionItemPastDue(SubscriptionItem): write(Changed),
    /// A subscription item's first payment has not completed.
    "subscriptionItem.incomplete" => SubscriptionItemIncomplete(SubscriptionItem): write(Changed),
    /// A subscription item was canceled (it runs to the end of its period).
    "subscriptionItem.canceled" => SubscriptionItemCanceled(SubscriptionItem): write(Final),
    /// A subscription item ended.
    "subscriptionItem.ended" => SubscriptionItemEnded(SubscriptionItem): write(Final),
    /// A subscription item was abandoned before it started.
    "subscriptionItem.abandoned" => SubscriptionItemAbandoned(SubscriptionItem): write(Final),

    /// A payment attempt started.
    "paymentAttempt.created" => PaymentAttemptCreated(PaymentAttempt): write(Created),
    /// A payment attempt succeeded or failed.
    "paymentAttempt.updated" => PaymentAttemptUpdated(PaymentAttempt): write(Changed),
}

/// What a syntactically valid JSON text has that Postgres's `jsonb` cannot take, if anything.
///
/// Most of a payload's bytes are inside strings, so strings are crossed with `memchr` from one
/// quote or backslash to the next rather than byte by byte.
fn unstorable(json: &str) -> Option<&'static str> {
    let bytes = json.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => loop {
                i += 1;
                let Some(next) = memchr::memchr2(b'"', b'\\', bytes.get(i..)?) else {
                    return None; // Unterminated: the JSON parser refused it already.
                };
                i += next;
                if bytes[i] == b'"' {
                    break;
                }
                if bytes[i + 1..].starts_with(b"u0000") {
                    return Some("the body contains \\u0000, which Postgres cannot store");
                }
                // Step over the escaped character (an escaped quote or backslash included).
                i += 1;
            },
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some("the body nests deeper than 64 levels");
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The string `id` of a JSON object (a webhook's `data`, an object of a Clerk API listing).
pub fn object_id(json: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Id {
        id: Option<String>,
    }
    serde_json::from_str::<Id>(json).ok()?.id
}

/// Describes a parse failure by category and position only: serde's messages can quote values,
/// and values are personal data.
pub fn describe_json_error(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => "not valid JSON",
        Category::Data => "JSON that does not match the Clerk event shape",
    };
    format!("{what} (line {}, column {})", err.line(), err.column())
}

/// Reads `null` as the type's default, for lists Clerk sends as `[]`, `null` or not at all.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::unstorable;

    #[test]
    fn only_a_real_nul_escape_is_unstorable() {
        assert!(unstorable(r#"{"a":"x\u0000y"}"#).is_some());
        assert!(unstorable(r#"{"a":"\\\u0000"}"#).is_some());
        assert!(unstorable(r#"{"\u0000":1}"#).is_some());
        assert!(unstorable(r#"{"a":"\\u0000"}"#).is_none());
        assert!(unstorable(r#"{"a":"\u0001"}"#).is_none());
        assert!(unstorable(r#"{"a":"\"\\","b":"\u0000"}"#).is_some());
        assert!(unstorable(r#"{"a":"\\"}"#).is_none());
    }

    #[test]
    fn nesting_counts_outside_strings_only() {
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(unstorable(&deep).is_some());
        let shallow = format!(r#"{{"a":"{}"}}"#, "[".repeat(100));
        assert!(unstorable(&shallow).is_none());
        let escaped = format!(r#"{{"a":"\"{}"}}"#, "[".repeat(100));
        assert!(unstorable(&escaped).is_none());
    }
}
