//! `clerk-sync`: the service and the tools to operate it.
//!
//! Configuration comes from flags or the same environment variables as the server. Exit codes
//! (also in `--help`): 0 success; 1 a failure while running (database, network, Clerk API);
//! 2 bad arguments or configuration; 3 the work ran but something was refused or could not be
//! read (`send`: a non-2xx answer; `backfill`/`replay`: objects kept as `failed`; `replay`:
//! ledger rows that are no event at all). `healthcheck` exits 0 when the server is healthy, 1
//! otherwise.

/// `println!` that ignores a closed stdout (`clerk-sync send --list | head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod backfill;
mod clerk_api;
mod healthcheck;
mod progress;
mod send;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use clerk_sync::config::{self, ConfigError, DatabaseSettings, Settings};
use clerk_sync::{db, replay, stats};
use sqlx::PgPool;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  a failure while running (database, network, Clerk API)
  2  bad arguments or configuration
  3  done, but something was refused or could not be read (send: a non-2xx answer;
     backfill, replay: objects kept as `failed`; replay: ledger rows that are no event)
  healthcheck: 0 the server answered 200, 1 anything else";

/// Keep your own Postgres in sync with Clerk: run the webhook receiver, send it test events,
/// backfill from the Clerk Backend API, replay the ledger, prune it, and count what is stored.
#[derive(Debug, Parser)]
#[command(name = "clerk-sync", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the webhook receiver (POST /webhooks/clerk, GET /healthz, GET /metrics).
    ///
    /// Reads DATABASE_URL, CLERK_WEBHOOK_SIGNING_SECRET and every other setting from the
    /// environment (see .env.example); ROCKET_ADDRESS and ROCKET_PORT choose where it listens.
    #[command(after_help = EXIT_CODES)]
    Serve(ServeArgs),
    /// Sign Clerk events with the endpoint's secret and POST them, as Clerk would.
    ///
    /// Each EVENT is an event type (`user.created`: the published Clerk example shipped with
    /// this project) or a path to a JSON file. Every send gets a fresh svix-id and timestamp
    /// unless given.
    #[command(after_help = EXIT_CODES)]
    Send(send::SendArgs),
    /// Copy users, organizations and memberships from the Clerk Backend API into Postgres.
    ///
    /// Objects are written through the same ordered upserts as webhooks, so a backfill racing
    /// live deliveries never overwrites newer data or resurrects a deleted object. Progress is
    /// committed with every page: run it again to resume after an interruption.
    #[command(after_help = EXIT_CODES)]
    Backfill(backfill::BackfillArgs),
    /// Apply events from the ledger to the projections again, idempotently.
    ///
    /// Use it after upgrading to a version that projects more or reads more: `--failed` picks
    /// up events stored as `failed` or `unhandled`.
    #[command(after_help = EXIT_CODES)]
    Replay(ReplayArgs),
    /// Delete ledger rows older than the retention (never less than 28 hours).
    #[command(after_help = EXIT_CODES)]
    Prune(PruneArgs),
    /// Rows per table, the ledger's size, events by status, the newest event.
    #[command(after_help = EXIT_CODES)]
    Stats(StatsArgs),
    /// Probe the local server's GET /healthz: exit 0 on 200, 1 otherwise (a container's
    /// HEALTHCHECK: the runtime image has no shell or curl).
    #[command(after_help = EXIT_CODES)]
    Healthcheck(healthcheck::HealthcheckArgs),
}

/// The database the tools work on.
#[derive(Debug, Args)]
struct DatabaseArgs {
    /// Postgres connection string.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (else ROCKET_ADDRESS, else 127.0.0.1).
    #[arg(long)]
    address: Option<String>,
    /// Port to listen on (else ROCKET_PORT, else 8000).
    #[arg(long)]
    port: Option<u16>,
}

#[derive(Debug, Args)]
#[group(id = "selection", required = true, multiple = false)]
struct ReplayArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// Every event in the ledger.
    #[arg(long, group = "selection")]
    all: bool,
    /// Events received since a time (`2026-11-27T09:00:00Z`) or for a while (`2 hours`).
    #[arg(long, value_name = "TIME|INTERVAL", group = "selection")]
    since: Option<String>,
    /// Events stored as `failed` (a payload that did not fit) or `unhandled` (an unknown type).
    #[arg(long, group = "selection")]
    failed: bool,
    /// Events per transaction.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=10_000))]
    batch_size: i64,
}

#[derive(Debug, Args)]
struct PruneArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// Keep rows received within this many hours (at least 28: Svix retries for 28 hours).
    #[arg(
        long,
        env = "CLERK_SYNC_LEDGER_RETENTION_HOURS",
        default_value_t = config::DEFAULT_RETENTION.as_secs() / 3600
    )]
    retention_hours: u64,
}

#[derive(Debug, Args)]
struct StatsArgs {
    #[command(flatten)]
    db: DatabaseArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// What a command that ran to its end reports.
#[derive(Debug, PartialEq, Eq)]
enum Done {
    /// Everything worked.
    Ok,
    /// Something was refused or kept as failed (exit 3).
    WithRefusals,
}

/// A mistake in the arguments or the configuration (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Usage(String);

/// The library's warnings (a ledger row replay could not read, say) on stderr as
/// `warning: ...` lines. Only the tools install it: `serve` installs the service's subscriber.
struct Warnings;

impl<S, N> FormatEvent<S, N> for Warnings
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            _ => "warning",
        };
        write!(writer, "{level}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn install_warnings() {
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .event_format(Warnings)
        // Ours only: sqlx warns about slow statements, and a tool's counting is slow on purpose.
        .with_env_filter(EnvFilter::new("clerk_sync=warn"))
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Synchronous and first: a probe every few seconds should start nothing it does not need.
    let command = match cli.command {
        Command::Healthcheck(args) => return healthcheck::run(args),
        command => command,
    };
    if !matches!(command, Command::Serve(_)) {
        install_warnings();
    }
    if let Command::Serve(args) = &command {
        // Rocket reads its configuration from the environment; set it before any thread exists.
        if let Some(address) = &args.address {
            std::env::set_var("ROCKET_ADDRESS", address);
        }
        if let Some(port) = args.port {
            std::env::set_var("ROCKET_PORT", port.to_string());
        }
    }
    match rocket::execute(run(command)) {
        Ok(Done::Ok) => ExitCode::SUCCESS,
        Ok(Done::WithRefusals) => ExitCode::from(3),
        Err(err) => {
            eprintln!("error: {err:#}");
            let usage = err.downcast_ref::<Usage>().is_some()
                || err.downcast_ref::<ConfigError>().is_some();
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

async fn run(command: Command) -> anyhow::Result<Done> {
    match command {
        Command::Serve(_) => {
            // Flushes buffered spans when dropped, after the server stopped.
            let _telemetry = clerk_sync::telemetry::init()?;
            let url = config::database_url_from_env()?;
            clerk_sync::serve(&url, Settings::from_env()?).await?;
            Ok(Done::Ok)
        }
        Command::Send(args) => send::run(args).await,
        Command::Healthcheck(_) => unreachable!("handled in main, without a runtime"),
        Command::Backfill(args) => {
            let pool = connect(&args.db.database_url).await?;
            backfill::run(&pool, args).await
        }
        Command::Replay(args) => {
            let pool = connect(&args.db.database_url).await?;
            run_replay(&pool, args).await
        }
        Command::Prune(args) => {
            let pool = connect(&args.db.database_url).await?;
            // The service's rule, reported against the flag (which may have come from the
            // variable).
            let retention = config::ledger_retention(args.retention_hours).map_err(|err| {
                let reason = match err {
                    ConfigError::Invalid { reason, .. } => reason.to_owned(),
                    other => other.to_string(),
                };
                Usage(format!(
                    "--retention-hours {}: {reason}",
                    args.retention_hours
                ))
            })?;
            let spinner = progress::spinner("pruning the ledger");
            let deleted = clerk_sync::prune_ledger(&pool, retention, 1000).await?;
            spinner.finish_and_clear();
            say!(
                "pruned {deleted} ledger rows received more than {}h ago",
                args.retention_hours
            );
            Ok(Done::Ok)
        }
        Command::Stats(args) => {
            let pool = connect(&args.db.database_url).await?;
            let spinner = progress::spinner("counting");
            let stats = stats::collect(&pool).await?;
            spinner.finish_and_clear();
            print_stats(&stats, args.json)?;
            Ok(Done::Ok)
        }
    }
}

/// A small pool for a tool, with the migrations applied (so every command works on a fresh
/// database) and no statement timeout (counting a large table may take a while).
async fn connect(url: &str) -> anyhow::Result<PgPool> {
    let settings = DatabaseSettings {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
        statement_timeout: Duration::ZERO,
    };
    let pool = db::connect_lazy(url, &settings)
        .map_err(|_| Usage("DATABASE_URL is not a valid Postgres URL".to_owned()))?;
    db::migrate(&pool)
        .await
        .context("could not prepare the database")?;
    Ok(pool)
}

async fn run_replay(pool: &PgPool, args: ReplayArgs) -> anyhow::Result<Done> {
    let selection = if args.all {
        replay::Selection::All
    } else if args.failed {
        replay::Selection::Failed
    } else {
        let text = args.since.unwrap_or_default();
        let since = replay::resolve_since(pool, &text).await?.ok_or_else(|| {
            Usage(format!(
                "--since {text:?} is neither a time (2026-11-27T09:00:00Z) nor an interval (2 hours)"
            ))
        })?;
        replay::Selection::Since(since)
    };
    let total = replay::count(pool, &selection).await?;
    let bar = progress::bar(total as u64, "replaying");
    let report = replay::replay(pool, &selection, args.batch_size, |done| {
        bar.set_position(done)
    })
    .await?;
    bar.finish_and_clear();
    say!(
        "replayed {} events: {} rows written, {} superseded by newer events, {} recorded, \
         {} unhandled, {} failed, {} unreadable",
        report.events,
        report.written,
        report.superseded,
        report.recorded,
        report.unhandled,
        report.failed,
        report.unreadable
    );
    Ok(if report.failed > 0 || report.unreadable > 0 {
        Done::WithRefusals
    } else {
        Done::Ok
    })
}

fn print_stats(stats: &stats::Stats, json: bool) -> anyhow::Result<()> {
    if json {
        say!("{}", serde_json::to_string_pretty(stats)?);
        return Ok(());
    }
    say!("{:<34} {:>10} {:>10}", "table", "rows", "deleted");
    for t in &stats.tables {
        say!("{:<34} {:>10} {:>10}", t.table, t.rows, t.deleted);
    }
    say!();
    say!(
        "ledger: {} rows, {:.1} MiB",
        stats.ledger_rows,
        stats.ledger_bytes as f64 / (1024.0 * 1024.0)
    );
    for (status, n) in &stats.ledger_by_status {
        say!("  {status:<10} {n:>10}");
    }
    say!(
        "newest event: received {}, emitted by Clerk {}",
        stats.newest_received_at.as_deref().unwrap_or("never"),
        stats.newest_event_at.as_deref().unwrap_or("never")
    );
    Ok(())
}
