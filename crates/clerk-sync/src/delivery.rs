//! A delivery: one Clerk event, parsed, with where its body came from. No Rocket here; the guard
//! ([`crate::guard::ClerkWebhook`]) is one way to get a delivery, replay and backfill are others.
//!
//! Only verification can produce a delivery whose [`Origin`] is [`Origin::Webhook`]:
//! [`Delivery::from_verified`] takes a [`VerifiedBody`], which only
//! [`Verifier::accept`](crate::svix::Verifier::accept) makes, and the fields are read through
//! accessors, so a verified delivery's body cannot be swapped afterwards.

use std::fmt;
use std::time::Instant;

use crate::clerk::{ClerkEvent, Envelope, EnvelopeError};
use crate::svix::VerifiedBody;

/// Where a delivery's body came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// Sent by Clerk (through Svix) and its signature checked.
    Webhook,
    /// Read back from the ledger by `clerk-sync replay`: it was verified when it first arrived.
    Replay,
    /// Built by `clerk-sync backfill` from an object fetched from Clerk's API; never signed.
    Backfill,
}

impl Origin {
    /// The name used in logs: `webhook`, `replay` or `backfill`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Replay => "replay",
            Self::Backfill => "backfill",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Clerk event, parsed, with its svix-id and where it came from.
#[derive(Debug, Clone)]
pub struct Delivery {
    svix_id: String,
    envelope: Envelope,
    object_id: Option<String>,
    event: ClerkEvent,
    body: String,
    origin: Origin,
    pub(crate) received: Instant,
    pub(crate) span: tracing::Span,
}

impl Delivery {
    /// The delivery of a body whose signature was checked: the only way to an
    /// [`Origin::Webhook`]. A payload that does not fit its type is still Clerk's event: it is
    /// kept as [`ClerkEvent::Unparsed`] (status `failed`) rather than refused, so a fixed version
    /// can replay it; a body that is not an envelope at all is refused.
    pub fn from_verified(verified: VerifiedBody) -> Result<Self, EnvelopeError> {
        let (svix_id, body) = verified.into_parts();
        Self::parse(svix_id, body, Origin::Webhook)
    }

    /// A body read back from the ledger, to be applied again.
    pub(crate) fn replayed(svix_id: String, body: String) -> Result<Self, EnvelopeError> {
        Self::parse(svix_id, body, Origin::Replay)
    }

    /// A synthetic body built from an object fetched from Clerk's API.
    pub(crate) fn backfilled(svix_id: String, body: String) -> Result<Self, EnvelopeError> {
        Self::parse(svix_id, body, Origin::Backfill)
    }

    fn parse(svix_id: String, body: String, origin: Origin) -> Result<Self, EnvelopeError> {
        let envelope = Envelope::parse(&body)?;
        let event = ClerkEvent::read(&envelope);
        // From the typed payload when there is one: no second pass over `data`.
        let object_id = match event.object_id() {
            Some(id) => Some(id.to_owned()),
            None => envelope.object_id(),
        };
        Ok(Self {
            svix_id,
            object_id,
            envelope,
            event,
            body,
            origin,
            received: Instant::now(),
            span: tracing::Span::none(),
        })
    }

    /// The Svix message id: the same for every retry of one event, so it keys the ledger. A
    /// backfill's is `backfill_<object id>_<version>`.
    pub fn svix_id(&self) -> &str {
        &self.svix_id
    }

    /// The envelope, with `data` kept verbatim.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The `id` of the object in `data` (a Clerk id, not personal data): what logs and the
    /// ledger identify the event by.
    pub fn object_id(&self) -> Option<&str> {
        self.object_id.as_deref()
    }

    /// The typed event.
    pub fn event(&self) -> &ClerkEvent {
        &self.event
    }

    /// Takes the typed event, for a route that needs nothing else.
    pub fn into_event(self) -> ClerkEvent {
        self.event
    }

    /// The exact body: the one that was signed, for a webhook.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Where the body came from.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// When the guard started reading the request (or the delivery was parsed, outside the
    /// guard): the delivery's `duration_ms` is measured from here.
    pub fn received(&self) -> Instant {
        self.received
    }

    /// The `clerk_sync.delivery` span the guard opened, for traces: the writer's batch span
    /// follows from it. Disabled outside the guard.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::svix::{sign, unix_seconds, SignedHeaders, SigningKey, Verifier};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &str =
        r#"{"type":"user.created","object":"event","timestamp":1,"data":{"id":"user_1"}}"#;

    #[test]
    fn a_verified_body_becomes_a_webhook_delivery() {
        let verifier = Verifier::from_secrets(SECRET).unwrap();
        let timestamp = unix_seconds(SystemTime::now()).to_string();
        let key = SigningKey::parse(SECRET).unwrap();
        let signature = sign(&key, "msg_1", &timestamp, BODY.as_bytes());
        let headers = SignedHeaders {
            id: "msg_1",
            timestamp: &timestamp,
            signature: &signature,
        };
        let checked = verifier.check_headers(&headers, SystemTime::now()).unwrap();
        let verified = verifier.accept(&checked, BODY.into()).unwrap();
        let delivery = Delivery::from_verified(verified).unwrap();
        assert_eq!(delivery.origin(), Origin::Webhook);
        assert_eq!(delivery.svix_id(), "msg_1");
        assert_eq!(delivery.object_id(), Some("user_1"));
        assert_eq!(delivery.body(), BODY);
    }

    #[test]
    fn replayed_and_backfilled_deliveries_name_their_origin() {
        let replayed = Delivery::replayed("msg_1".into(), BODY.into()).unwrap();
        let backfilled = Delivery::backfilled("backfill_user_1_1".into(), BODY.into()).unwrap();
        assert_eq!(replayed.origin(), Origin::Replay);
        assert_eq!(backfilled.origin(), Origin::Backfill);
    }
}
