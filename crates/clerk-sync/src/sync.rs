//! Applying verified deliveries: ledger rows and projections, in one transaction.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::PgConnection;

use crate::clerk::{ClerkEvent, DeletedObject};
use crate::db;
use crate::delivery::Delivery;
use crate::hooks::{HookError, Hooks};
use crate::store::ledger::{self, Recorded};
use crate::store::projection::{self, LockKey, Projected, Rank, Row, Table, Tombstone, Upsert};
use crate::store::tables::ALL;
use crate::store::{now_millis, Outcome, Tx};

/// What one event asks of the projections.
#[derive(Debug)]
pub enum Change<'e> {
    /// Write the payload's row, under the ordering rule.
    Upsert {
        /// Where.
        table: &'static Table,
        /// What.
        row: Row,
        /// The payload's `updated_at`, if it has one (else the envelope time orders it).
        updated_at: Option<i64>,
        /// Its lifecycle rank.
        rank: Rank,
    },
    /// Mark the object deleted.
    Delete {
        /// Where.
        table: &'static Table,
        /// Which.
        id: &'e str,
    },
    /// Keep it in the ledger only.
    Record,
    /// Unknown type: keep it in the ledger only.
    Unhandled,
    /// A payload that did not fit its type: keep it in the ledger only, as failed.
    Failed,
}

/// What each event, from Clerk instance `instance`, does to the projections: the catalogue that
/// declares [`ClerkEvent`] lists it beside each type, as one of the steps below.
pub fn changes<'e>(event: &'e ClerkEvent, instance: Option<&str>) -> Vec<Change<'e>> {
    event.changes(instance)
}

/// Catalogue step: write the payload's row, at this point of its lifecycle.
pub(crate) fn write<T: Projected>(
    x: &T,
    instance: Option<&str>,
    rank: Rank,
) -> Vec<Change<'static>> {
    vec![Change::Upsert {
        table: T::TABLE,
        row: x.row(instance),
        updated_at: x.updated_at(),
        rank,
    }]
}

/// Catalogue step: the object was deleted from `table`; the payload carries its id only.
pub(crate) fn delete<'e>(
    x: &'e DeletedObject,
    _instance: Option<&str>,
    table: &'static Table,
) -> Vec<Change<'e>> {
    vec![Change::Delete { table, id: &x.id }]
}

/// Catalogue step: keep the whole object as its last state, then delete it (Clerk sends the
/// whole membership on deletion).
pub(crate) fn write_then_delete<'e, T: Projected>(
    x: &'e T,
    instance: Option<&str>,
) -> Vec<Change<'e>> {
    let mut changes = write(x, instance, Rank::Deleted);
    changes.push(Change::Delete {
        table: T::TABLE,
        id: x.id(),
    });
    changes
}

/// Catalogue step: keep the event in the ledger only.
pub(crate) fn record<T>(_: &T, _instance: Option<&str>) -> Vec<Change<'static>> {
    vec![Change::Record]
}

/// Why a batch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// An application hook failed.
    #[error("hook failed: {0}")]
    Hook(HookError),
}

/// Records deliveries in the ledger and applies them to the projections, inside `tx`, then runs
/// `hooks` (if any) on each new one; returns one outcome per delivery, in order. A svix-id
/// already stored, or repeated in `webhooks`, yields [`Outcome::Duplicate`] and changes nothing.
/// Nothing is final until `tx` commits.
///
/// The outcomes, and so the ledger and what hooks see, are those of delivering `webhooks` one
/// by one in their order: the batch is cut into rounds where no two deliveries touch one row.
pub async fn apply_batch(
    tx: &mut Tx<'_>,
    webhooks: &[&Delivery],
    hooks: Option<&dyn Hooks>,
) -> Result<Vec<Outcome>, ApplyError> {
    apply_planned(tx, webhooks.len(), firsts(webhooks), hooks).await
}

/// [`apply_batch`] of a batch of `len` deliveries already planned.
async fn apply_planned(
    tx: &mut Tx<'_>,
    len: usize,
    firsts: Vec<Planned<'_>>,
    hooks: Option<&dyn Hooks>,
) -> Result<Vec<Outcome>, ApplyError> {
    let mut outcomes = vec![Outcome::Duplicate; len];
    let first_webhooks: Vec<&Delivery> = firsts.iter().map(|p| p.webhook).collect();
    let owned_locks = owned_locks(&firsts);
    let new: HashSet<String> = ledger::claim(tx, &first_webhooks, &owned_locks)
        .await?
        .into_iter()
        .collect();
    let fresh: Vec<Planned<'_>> = firsts
        .into_iter()
        .filter(|p| new.contains(p.webhook.svix_id()))
        .collect();

    // Written once, with what applying it did, before the hooks run (they may read it): by the
    // batch's last upsert when it can, else on its own.
    let recording: Vec<(&Delivery, usize)> = fresh.iter().map(|p| (p.webhook, p.event)).collect();
    if !run_rounds(tx, fresh, &mut outcomes, &recording).await? {
        let rows = recording.iter().map(|&(w, i)| (w, outcomes[i], None));
        ledger::insert(tx, Recorded::new(rows)).await?;
    }

    if let Some(hooks) = hooks {
        for &(webhook, i) in &recording {
            hooks
                .in_transaction(tx, webhook, outcomes[i])
                .await
                .map_err(ApplyError::Hook)?;
        }
        still_usable(tx).await?;
    }
    Ok(outcomes)
}

/// What [`apply_at_once`] did.
#[derive(Debug)]
pub enum AtOnce {
    /// The batch is stored and committed, with these outcomes.
    Applied(Vec<Outcome>),
    /// Nothing: the batch needs [`apply_batch`] in a transaction.
    NeedsTransaction,
    /// Nothing: the connection's transactions are not READ COMMITTED, so no batch can be applied
    /// at once on it.
    NotReadCommitted,
}

/// Applies `webhooks` as [`apply_batch`] would without hooks, in one statement that Postgres
/// commits on its own: one round trip where a transaction takes four (`begin`, claim, upsert,
/// `commit`). Only when the batch allows it: rows of one table without parents (users,
/// organizations), in one round, no deletion, and no event older than the deduplication window
/// (the ledger would be asked about it). Such a write reads no row but its own, which `on
/// conflict` reads as last committed, so the statement's snapshot, taken before it waits for
/// its locks, cannot mislead it. Otherwise, or at an isolation level other than READ COMMITTED,
/// it does nothing and says so.
pub async fn apply_at_once(
    conn: &mut PgConnection,
    webhooks: &[&Delivery],
) -> Result<AtOnce, sqlx::Error> {
    at_once(conn, webhooks.len(), &firsts(webhooks)).await
}

/// Applies `webhooks` on `conn` and commits them, planned once: at once where the batch allows
/// and `try_at_once` is set (it is cleared when the database answers that its transactions are
/// not READ COMMITTED), else in a transaction with `hooks`. What a writer runs for each batch.
pub(crate) async fn commit_batch(
    conn: &mut PgConnection,
    webhooks: &[&Delivery],
    hooks: Option<&dyn Hooks>,
    try_at_once: &AtomicBool,
) -> Result<Vec<Outcome>, ApplyError> {
    let firsts = firsts(webhooks);
    if try_at_once.load(Ordering::Relaxed) {
        match at_once(conn, webhooks.len(), &firsts).await? {
            AtOnce::Applied(outcomes) => return Ok(outcomes),
            AtOnce::NotReadCommitted => try_at_once.store(false, Ordering::Relaxed),
            AtOnce::NeedsTransaction => {}
        }
    }
    let mut tx = db::begin_write_on(conn).await?;
    let outcomes = apply_planned(&mut tx, webhooks.len(), firsts, hooks).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// [`apply_at_once`] of a batch of `len` deliveries already planned.
async fn at_once(
    conn: &mut PgConnection,
    len: usize,
    firsts: &[Planned<'_>],
) -> Result<AtOnce, sqlx::Error> {
    let Some(table) = at_once_table(firsts) else {
        return Ok(AtOnce::NeedsTransaction);
    };
    // Each delivery's row, if it writes one (at most one, by `at_once_table`).
    let rows: Vec<Option<&Upsert<'_>>> = firsts
        .iter()
        .map(|p| {
            let (_, rows) = p.writes.upserts.first()?;
            rows.values().next().map(|(_, upsert)| upsert)
        })
        .collect();
    let mut upserts: Vec<&Upsert<'_>> = rows.iter().flatten().copied().collect();
    upserts.sort_by(|a, b| a.row.id().cmp(b.row.id()));
    let recorded = Recorded::new(
        firsts
            .iter()
            .zip(&rows)
            .map(|(p, row)| (p.webhook, p.outcome, row.map(|upsert| upsert.row.id()))),
    );
    let webhooks: Vec<&Delivery> = firsts.iter().map(|p| p.webhook).collect();
    let locks = owned_locks(firsts);
    let Some(claimed) =
        projection::upsert_at_once(conn, table, &upserts, recorded, &webhooks, &locks).await?
    else {
        return Ok(AtOnce::NotReadCommitted);
    };
    let claimed: HashMap<String, bool> = claimed.into_iter().collect();
    let mut outcomes = vec![Outcome::Duplicate; len];
    for p in firsts {
        if let Some(&applied) = claimed.get(p.webhook.svix_id()) {
            outcomes[p.event] = if applied { Outcome::Applied } else { p.outcome };
        }
    }
    Ok(AtOnce::Applied(outcomes))
}

/// The table a batch applied at once writes, if the batch allows it: no delivery predates the
/// deduplication window or deletes, each writes at most one row, all into one table without
/// parents, and no two the same row. Such rows take only their own locks, none shared, so the
/// batch is one round (see [`run_rounds`]).
fn at_once_table(firsts: &[Planned<'_>]) -> Option<&'static Table> {
    let mut table: Option<&'static Table> = None;
    let mut ids = HashSet::new();
    for p in firsts {
        if ledger::predates_window(p.webhook).is_some() || !p.writes.tombstones.is_empty() {
            return None;
        }
        for (written, rows) in &p.writes.upserts {
            let one_table = table.is_none_or(|table| std::ptr::eq(table, *written));
            let one_row = rows.len() == 1 && rows.keys().all(|id| ids.insert(id.as_str()));
            if !one_table || !one_row {
                return None;
            }
            table = Some(written);
        }
    }
    table.filter(|table| !projection::has_parents(table))
}

/// The first delivery of each svix-id in the batch, planned before the ledger says which of them
/// are new, so the claim can take the row locks of those it claims (one round trip).
fn firsts<'a>(webhooks: &[&'a Delivery]) -> Vec<Planned<'a>> {
    let mut seen = HashSet::new();
    (0..webhooks.len())
        .filter(|&i| seen.insert(webhooks[i].svix_id()))
        .map(|i| Planned::new(webhooks[i], i))
        .collect()
}

/// Each lock of `planned`, with the svix-id of the delivery that needs it.
fn owned_locks<'p>(planned: &'p [Planned<'_>]) -> Vec<(&'p str, &'p LockKey)> {
    planned
        .iter()
        .flat_map(|p| p.locks.iter().map(|lock| (p.webhook.svix_id(), lock)))
        .collect()
}

/// A hook that ran a failing statement and ignored the error leaves the transaction aborted, and
/// Postgres answers the COMMIT of an aborted transaction by rolling it back without an error: the
/// deliveries would be acknowledged with nothing stored. One statement tells.
async fn still_usable(tx: &mut Tx<'_>) -> Result<(), ApplyError> {
    match sqlx::query("select 1").execute(&mut **tx).await {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("25P02") => {
            Err(ApplyError::Hook(
                "a hook left the transaction aborted (a statement of it failed)".into(),
            ))
        }
        Err(err) => Err(err.into()),
    }
}

/// What one delivery writes to the projections, the row locks that takes, and the outcome it
/// has unless a write of it is refused as stale.
struct Planned<'a> {
    webhook: &'a Delivery,
    /// Its index in the batch.
    event: usize,
    writes: Plan<'a>,
    locks: Vec<LockKey>,
    outcome: Outcome,
}

impl<'a> Planned<'a> {
    fn new(webhook: &'a Delivery, event: usize) -> Self {
        let data = webhook.envelope().data.get();
        let at = webhook
            .envelope()
            .occurred_at_millis()
            .unwrap_or_else(now_millis);
        let mut outcome = Outcome::Stale;
        let mut writes = Plan::default();
        let instance_id = webhook.envelope().instance_id.as_deref();
        for change in changes(webhook.event(), instance_id) {
            match change {
                Change::Upsert {
                    table,
                    row,
                    updated_at,
                    rank,
                } => {
                    let upsert = Upsert {
                        row,
                        data,
                        version: updated_at.unwrap_or(at),
                        rank,
                        svix_id: webhook.svix_id(),
                    };
                    writes.upsert(table, event, upsert);
                }
                Change::Delete { table, id } => {
                    let tombstone = Tombstone {
                        id,
                        data,
                        at,
                        instance_id,
                    };
                    writes.delete(table, event, tombstone)
                }
                Change::Record => outcome = Outcome::Recorded,
                Change::Unhandled => outcome = Outcome::Unhandled,
                Change::Failed => outcome = Outcome::Failed,
            }
        }
        let locks = writes.locks();
        Planned {
            webhook,
            event,
            writes,
            locks,
            outcome,
        }
    }
}

/// Applies planned deliveries to the projections and sets their outcomes; the caller holds their
/// locks. When the last statement is an upsert, it also writes the ledger rows of `recording`
/// (each delivery with its index in the batch), and this returns true.
///
/// Deliveries are applied as they would be one by one, in their order, but in as few statements
/// as that allows: they are cut into rounds where no two deliveries touch the same row or a
/// parent and its child (their [`LockKey`]s conflict); within a round order cannot matter, so
/// each round is one statement per table. A batch of distinct objects is one round.
async fn run_rounds(
    tx: &mut Tx<'_>,
    planned: Vec<Planned<'_>>,
    outcomes: &mut [Outcome],
    recording: &[(&Delivery, usize)],
) -> Result<bool, sqlx::Error> {
    let mut rounds = vec![Plan::default()];
    // The current round's lock keys, and whether any of its writes takes the key exclusively.
    let mut round_locks: HashMap<String, bool> = HashMap::new();
    for p in planned {
        outcomes[p.event] = p.outcome;
        let conflicts = p.locks.iter().any(|lock| {
            round_locks
                .get(&lock.key)
                .is_some_and(|&exclusive| exclusive || lock.exclusive)
        });
        if conflicts {
            rounds.push(Plan::default());
            round_locks.clear();
        }
        rounds
            .last_mut()
            .expect("one round at least")
            .extend(p.writes);
        for lock in p.locks {
            *round_locks.entry(lock.key).or_default() |= lock.exclusive;
        }
    }
    let last = rounds.pop().expect("one round at least");
    for round in rounds {
        round.run(tx, outcomes, &[]).await?;
    }
    last.run(tx, outcomes, recording).await
}

/// Applies events that are already in the ledger to the projections again, under the same
/// ordering rules, without hooks: what `clerk-sync replay` runs. Returns one outcome per event:
/// [`Outcome::Applied`] where the event's key is still the row's newest (the row is written again
/// from it, so a fixed parser corrects it), [`Outcome::Stale`] where a newer event supersedes it.
pub async fn reapply(tx: &mut Tx<'_>, webhooks: &[&Delivery]) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut outcomes = vec![Outcome::Stale; webhooks.len()];
    let planned: Vec<Planned<'_>> = (0..webhooks.len())
        .map(|i| Planned::new(webhooks[i], i))
        .collect();
    let locks: Vec<LockKey> = planned
        .iter()
        .flat_map(|p| p.locks.iter().cloned())
        .collect();
    projection::take_locks(tx, &locks).await?;
    run_rounds(tx, planned, &mut outcomes, &[]).await?;
    Ok(outcomes)
}

/// Per table, one write per row id, with the index of the event it came from.
type ByTable<K, W> = Vec<(&'static Table, BTreeMap<K, (usize, W)>)>;

/// The writes of one round, grouped by table, at most one per row and kind.
#[derive(Default)]
struct Plan<'a> {
    upserts: ByTable<String, Upsert<'a>>,
    tombstones: ByTable<&'a str, Tombstone<'a>>,
}

impl<'a> Plan<'a> {
    fn upsert(&mut self, table: &'static Table, event: usize, upsert: Upsert<'a>) {
        entry(&mut self.upserts, table).insert(upsert.row.id().to_owned(), (event, upsert));
    }

    fn delete(&mut self, table: &'static Table, event: usize, tombstone: Tombstone<'a>) {
        entry(&mut self.tombstones, table).insert(tombstone.id, (event, tombstone));
    }

    fn extend(&mut self, other: Plan<'a>) {
        for (table, rows) in other.upserts {
            entry(&mut self.upserts, table).extend(rows);
        }
        for (table, rows) in other.tombstones {
            entry(&mut self.tombstones, table).extend(rows);
        }
    }

    /// The advisory locks these writes need: each row's own, and its parents'.
    fn locks(&self) -> Vec<LockKey> {
        let mut locks = Vec::new();
        for (table, rows) in &self.upserts {
            for (id, (_, upsert)) in rows {
                locks.push(projection::row_lock(table, id));
                locks.extend(projection::parent_locks(table, &upsert.row));
            }
        }
        for (table, rows) in &self.tombstones {
            locks.extend(rows.keys().map(|id| projection::row_lock(table, id)));
        }
        locks
    }

    /// Runs the writes, upserts and then deletions, table by table in the order of [`ALL`], rows
    /// in id order. The caller holds the [`Plan::locks`]. When the last statement is an upsert,
    /// it also writes the ledger rows of `recording`, and this returns true.
    async fn run(
        mut self,
        tx: &mut Tx<'_>,
        outcomes: &mut [Outcome],
        recording: &[(&Delivery, usize)],
    ) -> Result<bool, sqlx::Error> {
        let order = |table: &Table| ALL.iter().position(|t| std::ptr::eq(*t, table));
        self.upserts.sort_by_key(|(table, _)| order(table));
        self.tombstones.sort_by_key(|(table, _)| order(table));
        let last = self.upserts.len();
        let mut recorded = false;
        for (n, (table, rows)) in self.upserts.into_iter().enumerate() {
            let (events, upserts): (Vec<usize>, Vec<Upsert<'_>>) = rows.into_values().unzip();
            let carries = !recording.is_empty()
                && n + 1 == last
                && self.tombstones.is_empty()
                && events.iter().collect::<HashSet<_>>().len() == events.len();
            // Each delivery's row in this statement: its outcome there is decided in SQL too.
            let rows = carries.then(|| {
                Recorded::new(recording.iter().map(|&(webhook, event)| {
                    let row = events.iter().position(|&e| e == event);
                    (webhook, outcomes[event], row.map(|i| upserts[i].row.id()))
                }))
            });
            recorded |= rows.is_some();
            let changed: HashSet<String> = projection::upsert(tx, table, &upserts, rows)
                .await?
                .into_iter()
                .collect();
            for (event, upsert) in events.into_iter().zip(&upserts) {
                if changed.contains(upsert.row.id()) {
                    outcomes[event] = Outcome::Applied;
                }
            }
        }
        for (table, rows) in self.tombstones {
            let (events, tombstones): (Vec<usize>, Vec<Tombstone<'_>>) = rows.into_values().unzip();
            let changed: HashSet<String> = projection::tombstone(tx, table, &tombstones)
                .await?
                .into_iter()
                .collect();
            for (event, tombstone) in events.into_iter().zip(&tombstones) {
                if changed.contains(tombstone.id) {
                    outcomes[event] = Outcome::Applied;
                }
            }
        }
        Ok(recorded)
    }
}

fn entry<'p, K: Ord, V>(
    groups: &'p mut Vec<(&'static Table, BTreeMap<K, V>)>,
    table: &'static Table,
) -> &'p mut BTreeMap<K, V> {
    let index = match groups.iter().position(|(t, _)| std::ptr::eq(*t, table)) {
        Some(index) => index,
        None => {
            groups.push((table, BTreeMap::new()));
            groups.len() - 1
        }
    };
    &mut groups[index].1
}
