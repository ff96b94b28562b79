//! Makes sqlx's query macros read the statements' descriptions from `.sqlx/` (committed, and in
//! the package) instead of connecting to a database.
//!
//! sqlx 0.8's macros connect to `DATABASE_URL` whenever it is set, unless `SQLX_OFFLINE` is
//! `true`. An application that depends on this crate usually has its own `DATABASE_URL` (in its
//! environment, or in a `.env` the macros also read): our statements would be checked against
//! its database, which need not hold our schema, and its build would fail. `rustc-env` sets the
//! variable for the compiler that runs the macros, whatever the environment says, and for this
//! crate only (an application's own `query!` calls are untouched).
//!
//! `scripts/sqlx-prepare.sh` sets `CLERK_SYNC_SQLX_ONLINE=1` to build against a scratch database
//! and write `.sqlx/` afresh.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The macros do not tell cargo what they read: a new migration or new query data rebuilds
    // the crate through this script.
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=.sqlx");
    println!("cargo:rerun-if-env-changed=CLERK_SYNC_SQLX_ONLINE");
    if std::env::var_os("CLERK_SYNC_SQLX_ONLINE").is_some_and(|v| v == "1") {
        // Preparing: a different database or output directory must compile the macros again.
        println!("cargo:rerun-if-env-changed=DATABASE_URL");
        println!("cargo:rerun-if-env-changed=SQLX_OFFLINE_DIR");
        println!("cargo:rustc-env=SQLX_OFFLINE=false");
    } else {
        println!("cargo:rustc-env=SQLX_OFFLINE=true");
    }
}
