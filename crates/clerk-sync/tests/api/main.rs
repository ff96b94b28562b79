//! The integration tests: one binary, a module per behaviour. Each database test gets a fresh
//! database from `#[sqlx::test]` (on the server named by `DATABASE_URL`) and talks HTTP to the
//! real app through Rocket's local client, with real signatures.

mod batching;
mod cascades;
mod concurrency;
mod convergence;
mod database;
mod equivalence;
mod example_app;
mod faults;
mod fixtures;
mod hooks;
mod hostile;
// Run by every `cargo test`: the test support enables the feature.
#[cfg(feature = "jwks")]
mod jwks;
mod metrics;
mod reads;
mod refused_values;
mod retention;
mod session;
mod signature_vectors;
mod slow_senders;
mod users;
mod verification;
