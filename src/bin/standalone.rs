//! clerk-sync without Shuttle: `DATABASE_URL`, `CLERK_WEBHOOK_SIGNING_SECRET` and Rocket's own
//! `ROCKET_ADDRESS` / `ROCKET_PORT` from the environment.

use std::process::ExitCode;

use anyhow::Context;
use clerk_sync::config::Settings;

#[rocket::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .context("DATABASE_URL is not set")?;
    let settings = Settings::from_env()?;
    clerk_sync::serve(&url, settings).await
}
