//! The Shuttle entry point: `shuttle run` runs it locally. (Shuttle's hosted platform has shut
//! down, so `shuttle deploy` no longer works; the README's "Deploy" has the ways that do.)
//!
//! The Postgres comes from `local_uri`, the `DATABASE_URL` in `Secrets.dev.toml` (copied from
//! `Secrets.toml.example`), so `shuttle run` needs no Docker. On a local run that database is
//! created when it does not exist yet, so the first run on a fresh machine works. We size our
//! own pool (shuttle-shared-db's ready-made `PgPool` is capped at 5 connections).
//!
//! shuttle-codegen 0.57 interpolates `{secrets.DATABASE_URL}` before anything else runs: without
//! a secrets file the start fails with "Failed to interpolate string. Is your Secrets.toml
//! correct?".

use anyhow::Context;
use clerk_sync::config::Settings;
use clerk_sync::db;
use shuttle_runtime::{DeploymentMetadata, Environment};

#[shuttle_runtime::main]
async fn main(
    #[shuttle_shared_db::Postgres(local_uri = "{secrets.DATABASE_URL}")] database_url: String,
    #[shuttle_runtime::Secrets] secrets: shuttle_runtime::SecretStore,
    #[shuttle_runtime::Metadata] metadata: DeploymentMetadata,
) -> shuttle_rocket::ShuttleRocket {
    let settings = Settings::from_lookup(|name| secrets.get(name)).map_err(anyhow::Error::from)?;
    // Only locally: a provisioned database exists, and its role may not create databases.
    // The cause goes into the message: Shuttle prints an error's outermost context only.
    if metadata.env == Environment::Local
        && db::create_database_if_missing(&database_url)
            .await
            .map_err(|err| {
                anyhow::anyhow!(
                    "could not reach the Postgres that DATABASE_URL in Secrets.dev.toml names: {}",
                    db::describe(&err)
                )
            })?
    {
        tracing::info!("created the database that DATABASE_URL in Secrets.dev.toml names");
    }
    let pool = db::connect_lazy(&database_url, &settings.database)
        .context("Shuttle's database connection string is not a valid Postgres URL")?;
    Ok(app::app(pool, settings).into())
}
