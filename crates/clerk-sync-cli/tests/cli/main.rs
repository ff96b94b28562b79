//! The command-line tool's tests: one binary, a module per behaviour. Each runs the real
//! `clerk-sync` binary (`serve` as an operator starts it, or a tool command) against a fresh
//! database from `#[sqlx::test]`.

mod backfill;
mod cli;
mod instances;
mod logs;
#[cfg(feature = "otlp")]
mod otlp;
mod replay;

mod helpers {
    pub use clerk_sync_test_support::*;

    /// `clerk-sync serve`, as the README runs it.
    pub fn serve() -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_clerk-sync"));
        command.arg("serve");
        command
    }

    /// Runs `clerk-sync args...` with a clean environment and `env`.
    pub async fn clerk_sync(args: &[&str], env: &[(&str, &str)]) -> Run {
        run(env!("CARGO_BIN_EXE_clerk-sync"), args, env).await
    }
}
