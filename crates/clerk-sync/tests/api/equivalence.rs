//! Delivered one by one, together in one batch, or concurrently, the same events end the same:
//! the same rows, and — one by one or in one batch, in the same order — the same outcomes in the
//! ledger and for hooks. On any collation: svix-ids here differ in case, which byte order and
//! ICU / en_US collations sort differently.

use std::sync::{Arc, Mutex};

use clerk_sync::delivery::Delivery;
use clerk_sync::hooks::{HookError, Hooks};
use clerk_sync::hooks::{Outcome, Tx};
use clerk_sync::{apply_at_once, apply_batch, db, AtOnce};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::fixtures::PROJECTED_TABLES;
use clerk_sync_test_support::*;

const T1: i64 = 1_716_883_200_000;
const T2: i64 = 1_716_883_500_000;

/// What the in-transaction hook was handed, in order.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, Outcome)>>>);

#[rocket::async_trait]
impl Hooks for Seen {
    async fn in_transaction(
        &self,
        _: &mut Tx<'_>,
        webhook: &Delivery,
        outcome: Outcome,
    ) -> Result<(), HookError> {
        self.0
            .lock()
            .unwrap()
            .push((webhook.svix_id().to_owned(), outcome));
        Ok(())
    }
}

/// What a run left: outcomes (from the ledger and as hooks saw them), and every projected row.
#[derive(Debug, PartialEq)]
struct Run {
    outcomes: Vec<Outcome>,
    ledger: Vec<String>,
    hooks_saw: Vec<(String, Outcome)>,
    rows: Vec<String>,
}

fn webhooks(events: &[(&str, String)]) -> Vec<Delivery> {
    events
        .iter()
        .map(|(id, body)| verified_delivery(id, body))
        .collect()
}

async fn one_by_one(pool: &PgPool, events: &[(&str, String)]) -> Run {
    let seen = Seen::default();
    let mut outcomes = Vec::new();
    for webhook in webhooks(events) {
        let mut tx = db::begin_write(pool).await.unwrap();
        outcomes.extend(
            apply_batch(&mut tx, &[&webhook], Some(&seen as &dyn Hooks))
                .await
                .unwrap(),
        );
        tx.commit().await.unwrap();
    }
    finish(pool, outcomes, seen).await
}

async fn one_batch(pool: &PgPool, events: &[(&str, String)]) -> Run {
    let seen = Seen::default();
    let webhooks = webhooks(events);
    let refs: Vec<&Delivery> = webhooks.iter().collect();
    let mut tx = db::begin_write(pool).await.unwrap();
    let outcomes = apply_batch(&mut tx, &refs, Some(&seen as &dyn Hooks))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    finish(pool, outcomes, seen).await
}

/// Applies `events` in one batch as a writer without hooks does: at once, or, when the batch
/// does not allow it, in a transaction. Returns the run and whether it was at once.
async fn at_once(pool: &PgPool, events: &[(&str, String)]) -> (Run, bool) {
    let webhooks = webhooks(events);
    let refs: Vec<&Delivery> = webhooks.iter().collect();
    let mut conn = pool.acquire().await.unwrap();
    let (outcomes, at_once) = match apply_at_once(&mut conn, &refs).await.unwrap() {
        AtOnce::Applied(outcomes) => (outcomes, true),
        AtOnce::NeedsTransaction | AtOnce::NotReadCommitted => {
            let mut tx = db::begin_write(pool).await.unwrap();
            let outcomes = apply_batch(&mut tx, &refs, None).await.unwrap();
            tx.commit().await.unwrap();
            (outcomes, false)
        }
    };
    drop(conn);
    (finish(pool, outcomes, Seen::default()).await, at_once)
}

/// Reads what a run left, then empties the tables for the next.
async fn finish(pool: &PgPool, outcomes: Vec<Outcome>, seen: Seen) -> Run {
    let ledger = sqlx::query_scalar(
        "select svix_id || ' ' || status from clerk.webhook_events order by svix_id collate \"C\"",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let rows = rows(pool).await;
    // `delete` rather than `truncate`: far quicker on tables this small.
    let ledger_tables = ["clerk.webhook_events", "clerk.recent_svix_ids"];
    for table in PROJECTED_TABLES.iter().chain(&ledger_tables) {
        sqlx::query(&format!("delete from {table}"))
            .execute(pool)
            .await
            .unwrap();
    }
    let hooks_saw = seen.0.lock().unwrap().clone();
    Run {
        outcomes,
        ledger,
        hooks_saw,
        rows,
    }
}

async fn rows(pool: &PgPool) -> Vec<String> {
    let mut rows = Vec::new();
    for table in PROJECTED_TABLES {
        let sql = format!("select (to_jsonb(t) - 'synced_at')::text from {table} t order by 1");
        rows.extend(
            sqlx::query_scalar::<_, String>(&sql)
                .fetch_all(pool)
                .await
                .unwrap(),
        );
    }
    rows
}

/// For every order of `events`: one by one, in one batch, and in one batch as a writer without
/// hooks applies it (at once where it can) give the same run, and every order ends in the same
/// rows. Returns those rows.
async fn assert_equivalent(pool: &PgPool, events: &[(&str, String)]) -> Vec<String> {
    let mut final_rows: Option<Vec<String>> = None;
    for order in orders(events.len()) {
        let ordered: Vec<(&str, String)> = order.iter().map(|&i| events[i].clone()).collect();
        let apart = one_by_one(pool, &ordered).await;
        let together = one_batch(pool, &ordered).await;
        assert_eq!(apart, together, "order {order:?}");
        let (without_hooks, _) = at_once(pool, &ordered).await;
        let apart_unhooked = Run {
            hooks_saw: Vec::new(),
            ..apart
        };
        assert_eq!(
            without_hooks, apart_unhooked,
            "order {order:?}, without hooks"
        );
        let apart = apart_unhooked;
        match &final_rows {
            None => final_rows = Some(apart.rows),
            Some(rows) => assert_eq!(&apart.rows, rows, "order {order:?}"),
        }
    }
    final_rows.unwrap()
}

fn orders(n: usize) -> Vec<Vec<usize>> {
    fn permute(prefix: &mut Vec<usize>, rest: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if rest.is_empty() {
            out.push(prefix.clone());
        }
        for i in 0..rest.len() {
            let next = rest.remove(i);
            prefix.push(next);
            permute(prefix, rest, out);
            rest.insert(i, prefix.pop().unwrap());
        }
    }
    let mut out = Vec::new();
    permute(&mut Vec::new(), &mut (0..n).collect(), &mut out);
    out
}

async fn migrated(db: &PgConnectOptions) -> PgPool {
    let pool = PgPool::connect_with(db.clone()).await.unwrap();
    db::migrate(&pool).await.unwrap();
    pool
}

fn session(file: &str, updated_at: i64) -> String {
    event(
        file,
        json!({ "id": "sess_1", "user_id": "user_1", "updated_at": updated_at }),
        None,
    )
}

#[sqlx::test(migrations = false)]
async fn equal_times_and_ranks_are_broken_by_svix_id_bytes_on_any_collation(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let pool = migrated(&db).await;
    // Clerk's examples give ended and revoked one updated_at; both are terminal (one rank). In
    // bytes "msg_B…" < "msg_a…"; ICU and en_US put "a" first.
    let events = [
        ("msg_a2F", session("session.revoked.json", T1)),
        ("msg_B9z", session("session.ended.json", T1)),
    ];
    let rows = assert_equivalent(&pool, &events).await;
    assert!(rows[0].contains(r#""status": "revoked""#), "{rows:?}");
    assert!(rows[0].contains(r#""sync_svix_id": "msg_a2F""#), "{rows:?}");

    // Concurrent deliveries over HTTP, in separate batches or not, end the same.
    let app = TestApp::spawn(db).await;
    for _ in 0..5 {
        let deliveries: Vec<(String, String)> = events
            .iter()
            .map(|(id, body)| (id.to_string(), body.clone()))
            .collect();
        for (status, ack) in app.deliver_concurrently(&deliveries).await {
            assert_eq!(status, 200, "{ack}");
        }
        assert_eq!(self::rows(&app.db).await, rows);
        sqlx::query("truncate clerk.sessions, clerk.webhook_events, clerk.recent_svix_ids")
            .execute(&app.db)
            .await
            .unwrap();
    }
}

#[sqlx::test(migrations = false)]
async fn a_creation_and_its_update_in_one_batch_are_both_applied_as_they_are_apart(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let pool = migrated(&db).await;
    let events = [
        (
            "msg_Created",
            user_event("user.created", "user_1", T1, "Doe"),
        ),
        (
            "msg_updated",
            user_event("user.updated", "user_1", T2, "Roe"),
        ),
    ];
    let in_order = one_batch(&pool, &events).await;
    assert_eq!(in_order.outcomes, [Outcome::Applied, Outcome::Applied]);
    // The welcome-email hook sees the creation applied.
    assert_eq!(
        in_order.hooks_saw,
        [
            ("msg_Created".to_owned(), Outcome::Applied),
            ("msg_updated".to_owned(), Outcome::Applied)
        ]
    );
    assert_equivalent(&pool, &events).await;
}

#[sqlx::test(migrations = false)]
async fn deletions_updates_and_cascades_give_the_same_outcomes_in_one_batch(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let pool = migrated(&db).await;
    let deleted = |file: &str, id: &str, at: i64| {
        let mut envelope: serde_json::Value =
            serde_json::from_str(&event(file, json!({ "id": id }), None)).unwrap();
        envelope["timestamp"] = json!(at);
        envelope.to_string()
    };
    let membership = |file: &str, updated_at: i64| {
        event(
            file,
            json!({
                "id": "orgmem_1", "updated_at": updated_at,
                "organization": { "id": "org_1" },
                "public_user_data": { "user_id": "user_1" },
            }),
            None,
        )
    };
    // A user deleted twice (two times), updated after; a membership deleted with its
    // organization and on its own.
    let events = [
        ("msg_del_Late", deleted("user.deleted.json", "user_1", T2)),
        ("msg_del_early", deleted("user.deleted.json", "user_1", T1)),
        ("msg_Upd", user_event("user.updated", "user_1", T2, "Roe")),
        (
            "msg_org_Gone",
            deleted("organization.deleted.json", "org_1", T2),
        ),
        (
            "msg_mem_gone",
            membership("organizationMembership.deleted.json", T1),
        ),
    ];
    assert_equivalent(&pool, &events).await;
}

/// Users sent now, applied at once: new, updated, stale, repeated in the batch, already stored,
/// and an event kept in the ledger only. Every order ends as one by one, and each such batch is
/// one statement. On connections at READ COMMITTED, which is what a batch applied at once needs,
/// whatever the database's default.
#[sqlx::test(migrations = false)]
async fn a_live_batch_of_users_applied_at_once_ends_as_one_by_one(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let pool = migrated(&read_committed(db)).await;
    let now = now_millis();
    let live = |body: String| sent_at(&body, now);
    let stored = [
        (
            "msg_Stored_3",
            live(user_event("user.created", "user_3", T1, "Doe")),
        ),
        (
            "msg_stored_1",
            live(user_event("user.updated", "user_1", T2, "Roe")),
        ),
    ];
    let batch = [
        (
            "msg_Stored_3",
            live(user_event("user.created", "user_3", T1, "Doe")),
        ),
        (
            "msg_stale_1",
            live(user_event("user.created", "user_1", T1, "Old")),
        ),
        (
            "msg_New_2",
            live(user_event("user.created", "user_2", T1, "Poe")),
        ),
        (
            "msg_New_2",
            live(user_event("user.created", "user_2", T1, "Poe")),
        ),
        ("msg_email", live(fixture("email.created.json"))),
        (
            "msg_upd_4",
            live(user_event("user.updated", "user_4", T2, "Moe")),
        ),
    ];
    for order in orders(batch.len()).into_iter().step_by(7) {
        let ordered: Vec<(&str, String)> = order.iter().map(|&i| batch[i].clone()).collect();
        let all: Vec<(&str, String)> = stored.iter().cloned().chain(ordered.clone()).collect();
        let apart = one_by_one(&pool, &all).await;

        let seen = Seen::default();
        for webhook in webhooks(&stored) {
            let mut tx = db::begin_write(&pool).await.unwrap();
            apply_batch(&mut tx, &[&webhook], Some(&seen as &dyn Hooks))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let (together, at_once) = at_once(&pool, &ordered).await;
        assert!(at_once, "order {order:?}");
        assert_eq!(together.ledger, apart.ledger, "order {order:?}");
        assert_eq!(together.rows, apart.rows, "order {order:?}");
        assert_eq!(
            together.outcomes,
            apart.outcomes[stored.len()..],
            "order {order:?}"
        );
    }
    let (run, _) = at_once(&pool, &batch).await;
    use Outcome::*;
    assert_eq!(
        run.outcomes,
        [Applied, Applied, Applied, Duplicate, Recorded, Applied]
    );
}

/// On a connection whose transactions are repeatable read (a database's default), a batch is
/// not applied at once, and nothing of it is stored: the writer takes the transaction instead.
#[sqlx::test(migrations = false)]
async fn no_batch_is_applied_at_once_outside_read_committed(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let pool = migrated(&db).await;
    let body = sent_at(
        &user_event("user.created", "user_1", T1, "Doe"),
        now_millis(),
    );
    let webhook = verified_delivery("msg_1", &body);
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("set default_transaction_isolation = 'repeatable read'")
        .execute(&mut *conn)
        .await
        .unwrap();
    let result = apply_at_once(&mut conn, &[&webhook]).await.unwrap();
    assert!(matches!(result, AtOnce::NotReadCommitted), "{result:?}");
    let stored: i64 = sqlx::query_scalar(
        "select (select count(*) from clerk.users) + (select count(*) from clerk.webhook_events)
              + (select count(*) from clerk.recent_svix_ids)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, 0);
}
