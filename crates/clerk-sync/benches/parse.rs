//! Typed parsing (envelope, storability checks, typed payload) of each fixture family against
//! parsing the same bytes into `serde_json::Value`, measured in the same run. Target: typed ≤ 1×.

use std::hint::black_box;

use clerk_sync::clerk::{ClerkEvent, Envelope};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const FAMILIES: [&str; 8] = [
    "user.updated",
    "session.created",
    "organization.updated",
    "organizationMembership.created",
    "organizationInvitation.accepted",
    "subscription.created",
    "subscriptionItem.active",
    "paymentAttempt.updated",
];

fn parsing(c: &mut Criterion) {
    for family in FAMILIES {
        let path = format!(
            "{}/fixtures/clerk/{family}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        // Minified, as Svix delivers it.
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let body = value.to_string();
        let mut group = c.benchmark_group(format!("parse {family} ({} B)", body.len()));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("serde_json::Value (baseline)", |b| {
            b.iter(|| {
                black_box(serde_json::from_str::<serde_json::Value>(black_box(&body)).unwrap())
            })
        });
        group.bench_function("typed ClerkEvent", |b| {
            b.iter(|| {
                let envelope = Envelope::parse(black_box(&body)).unwrap();
                black_box(ClerkEvent::from_envelope(&envelope).unwrap())
            })
        });
        group.finish();
    }
}

criterion_group!(benches, parsing);
criterion_main!(benches);
