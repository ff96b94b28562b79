//! Verified bodies of any shape: the envelope and typed parsers and the dispatch table never
//! panic, and whatever they accept is storable.
#![no_main]

use clerk_sync::clerk::{ClerkEvent, Envelope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(envelope) = Envelope::parse(body) else {
        return;
    };
    let _ = envelope.occurred_at_millis();
    let _ = envelope.object_id();
    let event = ClerkEvent::read(&envelope);
    assert_eq!(event.event_type(), envelope.event_type);
    let _ = clerk_sync::fuzzing::changes(&event, None);
});
