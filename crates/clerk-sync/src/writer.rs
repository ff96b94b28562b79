//! Group commit: concurrent deliveries share one transaction and one commit.
//!
//! Each request hands its verified delivery to the writer and waits for the outcome. A writer
//! task takes its share of the deliveries in flight — `in flight / writers`, at most
//! `max_events`, waiting at most `max_wait` for more after the first — and applies it as one
//! batch: one statement to claim the svix-ids and take the row locks of the new ones, one per
//! projected table, one for the ledger, one commit, on a connection the writer keeps while
//! deliveries keep coming. Without hooks, a batch of users (or of organizations), which is what
//! live traffic mostly is, is all of that in a single statement that Postgres commits on its own
//! ([`sync::apply_at_once`]): one round trip instead of four.
//!
//! Taking a share rather than everything queued keeps every writer busy: with 16 clients and 2
//! writers, one batch of 8 commits while the other 8 clients' next deliveries gather in the other
//! writer (measured here: 5 000 events/s instead of 3 700 when one batch swallowed all 16).
//!
//! Every request is answered only after the commit that holds its event. What can go wrong, and
//! what happens then:
//! - two transactions meet (a deadlock or serialization failure, which hooks can cause): the
//!   batch runs again at once, a few times, before anyone is answered;
//! - a database error that is not a lost connection, or a hook's error or panic: each delivery
//!   of the batch is retried once in a transaction of its own, so one bad event cannot fail or
//!   hold up its neighbours beyond that one retry;
//! - Postgres refuses one delivery's values ([`Failure::Permanent`]): it is kept in the ledger as
//!   `failed` with the reason, and acknowledged.
//!
//! A panic in a hook fails its delivery only; the writer task goes on.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rocket::futures::FutureExt;
use rocket::tokio::sync::{mpsc, oneshot, Mutex, Semaphore};
use rocket::tokio::task::JoinHandle;
use rocket::tokio::time::{timeout_at, Instant};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgDatabaseError, PgSeverity};
use sqlx::{PgPool, Postgres};
use tracing::Instrument;

use crate::config::BatchSettings;
use crate::db::{self, Failure};
use crate::delivery::Delivery;
use crate::hooks::{Hooks, SharedHooks};
use crate::metrics::Metrics;
use crate::store::{ledger, Outcome};
use crate::sync::{self, ApplyError};

/// How often a batch is run again after its transaction met another (a deadlock, a
/// serialization failure) before its deliveries are answered 503.
const CONFLICT_ATTEMPTS: u32 = 5;

/// Batches whose after-commit hooks may be pending at once. Past that, writers wait for them
/// (and deliveries for the writers), so slow after-commit work cannot grow memory without bound.
const AFTER_COMMIT_BATCHES: usize = 256;

/// A writer gives its connection back to the pool once unused this long, or this long after it
/// took it: the pool then tests it and applies its own limits (a connection kept through a
/// Postgres restart, or past the pool's lifetime, would fail or outlive them).
const KEEP_IDLE: Duration = Duration::from_secs(1);
const KEEP_AT_MOST: Duration = Duration::from_secs(60);

/// Why a delivery could not be stored. Either way nothing of it was committed. Cheap to clone
/// (every delivery of a failed batch gets one), with the typed cause as its source; its message
/// is safe to log: SQLSTATE and message, never a row's values.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The database failed in a way a later retry can overcome.
    #[error("{}", db::describe(.0))]
    Database(#[source] Arc<sqlx::Error>),
    /// An application hook failed or panicked.
    #[error("hook failed: {0}")]
    Hook(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// Postgres refused the delivery's values, and then refused to keep it as `failed` too.
    #[error("{}; then {}", db::describe(.refused), db::describe(.kept))]
    Unstorable {
        /// Why its values were refused.
        refused: Arc<sqlx::Error>,
        /// Why the `failed` ledger row was refused.
        #[source]
        kept: Arc<sqlx::Error>,
    },
    /// The writer has stopped (the server is shutting down).
    #[error("the writer has stopped")]
    Stopped,
    /// The commit did not happen within the request timeout.
    #[error("no commit within the request timeout")]
    TimedOut,
}

impl From<ApplyError> for WriteError {
    fn from(err: ApplyError) -> Self {
        match err {
            ApplyError::Hook(err) => Self::Hook(Arc::from(err)),
            ApplyError::Database(err) => Self::Database(Arc::new(err)),
        }
    }
}

struct Job {
    webhook: Arc<Delivery>,
    /// When the request handed it over.
    queued_at: Instant,
    reply: oneshot::Sender<Result<Stored, WriteError>>,
}

/// A stored delivery's outcome, and where its wait went: what its log line reports, so a slow
/// answer says whether it queued for a writer or waited on its commit.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    /// What it did.
    pub outcome: Outcome,
    /// From the hand-off until a writer took it into a batch.
    pub queued: Duration,
    /// From then until its batch committed (runs again and retries alone included).
    pub committing: Duration,
}

/// The handle requests use to store deliveries.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    request_timeout: Duration,
    /// Deliveries handed to the writer and not yet answered.
    in_flight: Arc<AtomicUsize>,
    tasks: Arc<Vec<JoinHandle<()>>>,
}

/// Counts one delivery in flight for as long as it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Writer {
    /// Starts `settings.writers` writer tasks on the current Tokio runtime. `hooks`, if any, run
    /// on every new delivery.
    pub fn start(
        pool: PgPool,
        settings: BatchSettings,
        hooks: Option<SharedHooks>,
        metrics: Metrics,
    ) -> Self {
        let capacity = settings.max_events.max(1) * settings.writers.max(1) * 4;
        let (jobs, queue) = mpsc::channel(capacity);
        let queue = Arc::new(Mutex::new(queue));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let after_commit = Arc::new(Semaphore::new(AFTER_COMMIT_BATCHES));
        let tasks = (0..settings.writers.max(1))
            .map(|_| {
                let task = WriterTask {
                    pool: pool.clone(),
                    connection: Mutex::new(None),
                    queue: queue.clone(),
                    settings: settings.clone(),
                    at_once: AtomicBool::new(hooks.is_none()),
                    hooks: hooks.clone(),
                    metrics: metrics.clone(),
                    in_flight: in_flight.clone(),
                    after_commit: after_commit.clone(),
                };
                rocket::tokio::spawn(task.run())
            })
            .collect();
        Self {
            jobs,
            request_timeout: settings.request_timeout,
            in_flight,
            tasks: Arc::new(tasks),
        }
    }

    /// Stores a delivery; returns once its transaction committed, or failed, or the request
    /// timeout passed (then the delivery may still commit: its redelivery will be a duplicate).
    pub async fn write(&self, webhook: Delivery) -> Result<Stored, WriteError> {
        let _in_flight = InFlight::new(&self.in_flight);
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            webhook: Arc::new(webhook),
            queued_at: Instant::now(),
            reply,
        };
        let stored = async {
            self.jobs.send(job).await.map_err(|_| WriteError::Stopped)?;
            outcome.await.map_err(|_| WriteError::Stopped)?
        };
        rocket::tokio::time::timeout(self.request_timeout, stored)
            .await
            .map_err(|_| WriteError::TimedOut)?
    }

    /// How many writer tasks have stopped. Each one's loop survives anything a batch does, so
    /// this is 0 unless something is badly wrong: `/healthz` reports it.
    pub fn stopped_tasks(&self) -> usize {
        self.tasks.iter().filter(|task| task.is_finished()).count()
    }
}

struct WriterTask {
    pool: PgPool,
    /// The connection this writer keeps between batches (see [`WriterTask::transaction`]).
    connection: Mutex<Option<Kept>>,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    settings: BatchSettings,
    /// Whether to try each batch as one statement outside a transaction
    /// ([`sync::apply_at_once`]): not with hooks, which run inside the transaction, and no more
    /// once the database answered that its transactions are not READ COMMITTED.
    at_once: AtomicBool,
    hooks: Option<SharedHooks>,
    metrics: Metrics,
    in_flight: Arc<AtomicUsize>,
    after_commit: Arc<Semaphore>,
}

impl WriterTask {
    async fn run(self) {
        while let Some(batch) = self.next_batch().await {
            self.process(batch).await;
        }
    }

    /// Waits for a first job, then takes more until the batch holds its share of the deliveries
    /// in flight (or `max_events`) or `max_wait` has passed; `None` once the queue is closed and
    /// empty. Jobs whose requester has already been answered (timed out) are dropped unstored.
    async fn next_batch(&self) -> Option<Vec<Job>> {
        let mut queue = self.queue.lock().await;
        let mut batch = Vec::new();
        while batch.is_empty() {
            let first = queue.recv().await?;
            if !first.reply.is_closed() {
                batch.push(first);
            }
        }
        let deadline = Instant::now() + self.settings.max_wait;
        while batch.len() < self.share() {
            let job = match queue.try_recv() {
                Ok(job) => job,
                Err(_) if self.settings.max_wait == Duration::ZERO => break,
                Err(_) => match timeout_at(deadline, queue.recv()).await {
                    Ok(Some(job)) => job,
                    _ => break,
                },
            };
            if !job.reply.is_closed() {
                batch.push(job);
            }
        }
        Some(batch)
    }

    /// Whether this writer keeps its connection between batches: only when the pool has more
    /// connections than there are writers, so one is left to the rest of the service (reads,
    /// `/healthz`).
    fn keeps_connection(&self) -> bool {
        self.pool.options().get_max_connections() as usize > self.settings.writers
    }

    /// This writer's share of the deliveries in flight, between 1 and `max_events`.
    fn share(&self) -> usize {
        let writers = self.settings.writers.max(1);
        self.in_flight
            .load(Ordering::Relaxed)
            .div_ceil(writers)
            .clamp(1, self.settings.max_events.max(1))
    }

    /// Commits a batch in a `clerk_sync.batch` span that carries its svix-ids and follows from
    /// each delivery's span (links, in a trace).
    async fn process(&self, batch: Vec<Job>) {
        // Field values are only computed when the span is enabled.
        let span = tracing::info_span!(
            "clerk_sync.batch",
            size = batch.len(),
            svix_ids = svix_ids(&batch),
            attempts = tracing::field::Empty,
            outcome = tracing::field::Empty,
            outcomes = tracing::field::Empty,
        );
        for job in &batch {
            span.follows_from(job.webhook.span());
        }
        self.process_in_span(batch).instrument(span).await;
    }

    async fn process_in_span(&self, batch: Vec<Job>) {
        let taken = Instant::now();
        let webhooks: Vec<&Delivery> = batch.iter().map(|job| job.webhook.as_ref()).collect();
        match self.commit(&webhooks).await {
            Ok(outcomes) => {
                let span = tracing::Span::current();
                span.record("outcome", "committed");
                // Counted only for a span something listens to.
                if !span.is_disabled() {
                    span.record("outcomes", count(&outcomes));
                }
                self.answer(batch, outcomes, taken).await
            }
            Err(err) if batch.len() > 1 && retry_alone(&err) => {
                tracing::Span::current().record("outcome", "retried_alone");
                tracing::warn!(
                    "a batch of {} failed ({}); retrying each delivery on its own",
                    batch.len(),
                    describe(&err)
                );
                for job in batch {
                    // Its requester was answered 503 already; Svix will deliver it again.
                    if job.reply.is_closed() {
                        continue;
                    }
                    match self.commit_alone(&job.webhook).await {
                        Ok(outcome) => self.answer(vec![job], vec![outcome], taken).await,
                        Err(err) => {
                            let _ = job.reply.send(Err(err));
                        }
                    }
                }
            }
            Err(err) if batch.len() == 1 => {
                tracing::Span::current().record("outcome", "retried_alone");
                let job = batch.into_iter().next().expect("one job");
                match self.keep_if_unstorable(&job.webhook, err).await {
                    Ok(outcome) => self.answer(vec![job], vec![outcome], taken).await,
                    Err(err) => {
                        let _ = job.reply.send(Err(err));
                    }
                }
            }
            Err(err) => {
                tracing::Span::current().record("outcome", "failed");
                let err = WriteError::from(err);
                for job in batch {
                    let _ = job.reply.send(Err(err.clone()));
                }
            }
        }
    }

    /// One delivery in a transaction of its own; if Postgres refuses its values, it is kept as
    /// `failed` instead.
    async fn commit_alone(&self, webhook: &Delivery) -> Result<Outcome, WriteError> {
        match self.commit(&[webhook]).await {
            Ok(outcomes) => Ok(outcomes[0]),
            Err(err) => self.keep_if_unstorable(webhook, err).await,
        }
    }

    /// After `err` failed `webhook` on its own: keeps it as `failed` when the error is
    /// permanent for its values, so Svix does not retry it for a day to no avail.
    async fn keep_if_unstorable(
        &self,
        webhook: &Delivery,
        err: ApplyError,
    ) -> Result<Outcome, WriteError> {
        let db_err = match err {
            ApplyError::Database(db_err) if Failure::of(&db_err) == Failure::Permanent => db_err,
            other => return Err(WriteError::from(other)),
        };
        let reason = db::describe(&db_err);
        let kept = async {
            let mut tx = db::begin_write(&self.pool).await?;
            let new = ledger::insert_failed(&mut tx, webhook, &reason).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(new)
        };
        match kept.await {
            Ok(new) => {
                tracing::error!(
                    svix_id = webhook.svix_id(),
                    event_type = webhook.envelope().event_type,
                    object_id = webhook.object_id().unwrap_or("-"),
                    "Postgres refused the delivery's values ({reason}); kept in the ledger as \
                     failed for `clerk-sync replay --failed`"
                );
                Ok(if new {
                    Outcome::Failed
                } else {
                    Outcome::Duplicate
                })
            }
            Err(kept) if Failure::of(&kept) == Failure::Permanent => Err(WriteError::Unstorable {
                refused: Arc::new(db_err),
                kept: Arc::new(kept),
            }),
            Err(kept) => Err(WriteError::Database(Arc::new(kept))),
        }
    }

    /// Replies (the batch was taken at `taken`), then hands new events to the after-commit hooks.
    async fn answer(&self, jobs: Vec<Job>, outcomes: Vec<Outcome>, taken: Instant) {
        let events: Vec<(Arc<Delivery>, Outcome)> = jobs
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| **outcome != Outcome::Duplicate)
            .map(|(job, outcome)| (job.webhook.clone(), *outcome))
            .collect();
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            let _ = job.reply.send(Ok(Stored {
                outcome,
                queued: taken.saturating_duration_since(job.queued_at),
                committing: taken.elapsed(),
            }));
        }
        let Some(hooks) = self.hooks.clone() else {
            return;
        };
        if events.is_empty() {
            return;
        }
        // Waits while too many batches' after-commit work is pending: backpressure, not memory.
        let Ok(permit) = self.after_commit.clone().acquire_owned().await else {
            return;
        };
        rocket::tokio::spawn(async move {
            for (webhook, outcome) in events {
                let ran = AssertUnwindSafe(hooks.after_commit(&webhook, outcome))
                    .catch_unwind()
                    .await;
                if ran.is_err() {
                    tracing::error!(
                        svix_id = webhook.svix_id(),
                        event_type = webhook.envelope().event_type,
                        "the after-commit hook panicked"
                    );
                }
            }
            drop(permit);
        });
    }

    /// Runs the batch's transaction, again at once while it meets other transactions.
    async fn commit(&self, webhooks: &[&Delivery]) -> Result<Vec<Outcome>, ApplyError> {
        let mut attempt = 1;
        loop {
            let started = std::time::Instant::now();
            let result = self.transaction(webhooks).await;
            self.metrics
                .batch(webhooks.len(), started.elapsed(), result.is_ok());
            tracing::Span::current().record("attempts", attempt);
            match result {
                Err(err) if met_another(&err) && attempt < CONFLICT_ATTEMPTS => {
                    tracing::info!(
                        "a batch of {} met another transaction ({}); running it again",
                        webhooks.len(),
                        describe(&err)
                    );
                    attempt += 1;
                    // Growing, with a little jitter, so two batches that met part ways.
                    let jitter = u64::from(started.elapsed().subsec_micros() % 5);
                    let pause = Duration::from_millis(u64::from(attempt) * 5 + jitter);
                    rocket::tokio::time::sleep(pause).await;
                }
                result => return result,
            }
        }
    }

    /// One transaction, on the connection this writer keeps between batches: sqlx's pool tests
    /// a connection with a round trip when it is taken and again when it is given back, two of
    /// a batch's eight. A kept connection that Postgres closed since its last batch (a restart, a
    /// pooler's timeout) fails the batch below SQL: it runs once more on a fresh connection,
    /// as the pool's test would have given, and as safely as Svix's own retry would.
    async fn transaction(&self, webhooks: &[&Delivery]) -> Result<Vec<Outcome>, ApplyError> {
        let mut kept = self.connection.lock().await;
        if kept.as_ref().is_some_and(Kept::due_back) {
            kept.take();
        }
        let reused = kept.is_some();
        let result = self.attempt(&mut kept, webhooks).await;
        match result {
            Err(ApplyError::Database(err)) if reused && !is_answer(&err) => {
                self.attempt(&mut kept, webhooks).await
            }
            result => result,
        }
    }

    /// One transaction on the `kept` connection, taken from the pool if there is none. It goes
    /// back to the pool (which tests it, and closes a broken one) after an error Postgres did
    /// not answer, after a panic, and when [`WriterTask::keeps_connection`] is false. A panic in
    /// a hook fails the transaction like a hook's error (the transaction is dropped, so it rolls
    /// back).
    async fn attempt(
        &self,
        kept: &mut Option<Kept>,
        webhooks: &[&Delivery],
    ) -> Result<Vec<Outcome>, ApplyError> {
        let hooks: Option<&dyn Hooks> = self.hooks.as_deref();
        let conn = match kept.as_mut() {
            Some(kept) => &mut kept.conn,
            None => &mut kept.insert(Kept::new(self.pool.acquire().await?)).conn,
        };
        let run = sync::commit_batch(conn, webhooks, hooks, &self.at_once);
        let result = match AssertUnwindSafe(run).catch_unwind().await {
            Ok(result) if in_step(&result) && self.keeps_connection() => {
                if let Some(kept) = kept.as_mut() {
                    kept.used = Instant::now();
                }
                return result;
            }
            Ok(result) => result,
            Err(_) => Err(ApplyError::Hook("a hook panicked".into())),
        };
        kept.take();
        result
    }
}

/// A pool connection a writer keeps between batches.
struct Kept {
    conn: PoolConnection<Postgres>,
    taken: Instant,
    used: Instant,
}

impl Kept {
    fn new(conn: PoolConnection<Postgres>) -> Self {
        let now = Instant::now();
        Self {
            conn,
            taken: now,
            used: now,
        }
    }

    /// Whether it should go back to the pool before the next batch.
    fn due_back(&self) -> bool {
        self.used.elapsed() > KEEP_IDLE || self.taken.elapsed() > KEEP_AT_MOST
    }
}

/// Whether a connection is in step with Postgres after `result`: the transaction ended, or
/// Postgres answered with an error (to our statement, or to a hook's that returned it).
fn in_step(result: &Result<Vec<Outcome>, ApplyError>) -> bool {
    match result {
        Ok(_) => true,
        Err(ApplyError::Database(err)) => is_answer(err),
        Err(ApplyError::Hook(err)) => err.downcast_ref::<sqlx::Error>().is_none_or(is_answer),
    }
}

/// Whether `err` is Postgres's answer on a session that goes on: not a failure to reach it, and
/// not a FATAL error (an administrator's or a restart's), after which Postgres closes the session.
fn is_answer(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|err| err.try_downcast_ref::<PgDatabaseError>())
        .is_some_and(|err| !matches!(err.severity(), PgSeverity::Fatal | PgSeverity::Panic))
}

/// Whether the transaction failed because it met another (a deadlock, a serialization
/// failure), in our statements or in a hook's that returned the error.
fn met_another(err: &ApplyError) -> bool {
    let db_err = match err {
        ApplyError::Database(err) => Some(err),
        ApplyError::Hook(err) => err.downcast_ref::<sqlx::Error>(),
    };
    db_err.is_some_and(|err| Failure::of(err) == Failure::Conflict)
}

/// A lost or unobtainable connection fails every delivery alike: retrying them one by one would
/// only make each wait for the database again. Anything else may be one delivery's fault.
fn retry_alone(err: &ApplyError) -> bool {
    match err {
        ApplyError::Hook(_) => true,
        ApplyError::Database(err) => !matches!(
            err,
            sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::Protocol(_)
        ),
    }
}

/// An error for the logs: SQLSTATE and message, never the `detail`, which can quote row values.
pub fn describe(err: &ApplyError) -> String {
    match err {
        ApplyError::Hook(e) => format!("hook failed: {e}"),
        ApplyError::Database(e) => crate::db::describe(e),
    }
}

/// The batch's svix-ids, comma-separated, for its span.
fn svix_ids(batch: &[Job]) -> String {
    let ids: Vec<&str> = batch.iter().map(|job| job.webhook.svix_id()).collect();
    ids.join(",")
}

/// `applied:3,duplicate:1`: how many of a batch's deliveries had each outcome, for its span.
fn count(outcomes: &[Outcome]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for outcome in outcomes {
        *counts.entry(outcome.as_str()).or_insert(0) += 1;
    }
    let counts: Vec<String> = counts
        .into_iter()
        .map(|(outcome, n)| format!("{outcome}:{n}"))
        .collect();
    counts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rocket::async_test]
    async fn a_writer_task_that_stopped_is_counted() {
        // A pool that never connects: no batch runs here.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        let writer = Writer::start(pool, BatchSettings::default(), None, Metrics::new());
        assert_eq!(writer.stopped_tasks(), 0);
        writer.tasks[0].abort();
        for _ in 0..100 {
            if writer.stopped_tasks() == 1 {
                return;
            }
            rocket::tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the stopped task was not counted");
    }
}
