//! The app's server: `DATABASE_URL`, `CLERK_WEBHOOK_SIGNING_SECRET` and Rocket's own
//! `ROCKET_ADDRESS` / `ROCKET_PORT` from the environment (`cargo run`).

use std::process::ExitCode;

use clerk_sync::config::{self, Settings};

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
    // Flushes buffered spans when dropped, after the server stopped.
    let _telemetry = clerk_sync::telemetry::init()?;
    let url = config::database_url_from_env()?;
    let settings = Settings::from_env()?;
    let pool = clerk_sync::db::connect_lazy(&url, &settings.database)?;
    clerk_sync::launch(app::app(pool, settings)).await?;
    Ok(())
}
