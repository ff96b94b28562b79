//! Concurrent deliveries: retries racing each other, and one user's events racing each other.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync_test_support::*;

#[sqlx::test(migrations = false)]
async fn a_hundred_concurrent_deliveries_of_one_svix_id_have_exactly_one_effect(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let body = user_event("user.created", "user_1", 1, "Doe");
    a_hundred_concurrent_deliveries_of(db, body).await;
}

/// The same, sent now: batches applied at once, without a transaction.
#[sqlx::test(migrations = false)]
async fn a_hundred_concurrent_live_deliveries_of_one_svix_id_have_exactly_one_effect(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let body = sent_at(
        &user_event("user.created", "user_1", 1, "Doe"),
        now_millis(),
    );
    a_hundred_concurrent_deliveries_of(db, body).await;
}

async fn a_hundred_concurrent_deliveries_of(db: PgConnectOptions, body: String) {
    let app = TestApp::spawn(db).await;
    let svix_id = new_svix_id();
    let deliveries: Vec<(String, String)> =
        (0..100).map(|_| (svix_id.clone(), body.clone())).collect();
    let answers = app.deliver_concurrently(&deliveries).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let applied = answers
        .iter()
        .filter(|(_, ack)| ack["outcome"] == "applied")
        .count();
    assert_eq!(applied, 1);
    assert_eq!(app.ledger_rows().await, 1);
    assert_eq!(app.user_rows().await, 1);
}

async fn user_row(app: &TestApp, id: &str) -> String {
    let row: String = sqlx::query_scalar(
        "select (to_jsonb(u) - 'synced_at')::text from clerk.users u where id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    row.replace(id, "ID")
}

#[sqlx::test(migrations = false)]
async fn one_users_events_racing_each_other_end_as_in_order(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    one_users_events_racing(db, None).await;
}

/// The same, sent now: the updates' batches are applied at once, the deletion's in a
/// transaction, and they race each other.
#[sqlx::test(migrations = false)]
async fn one_users_live_events_racing_each_other_end_as_in_order(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    one_users_events_racing(db, Some(now_millis())).await;
}

async fn one_users_events_racing(db: PgConnectOptions, sent: Option<i64>) {
    let app = TestApp::spawn(db).await;
    let send = |body: String| match sent {
        Some(millis) => sent_at(&body, millis),
        None => body,
    };
    let events = |id: &str| {
        [
            event(
                "user.created.json",
                json!({ "id": id, "first_name": "A", "updated_at": 1_000 }),
                None,
            ),
            event(
                "user.updated.json",
                json!({ "id": id, "first_name": "B", "updated_at": 2_000 }),
                None,
            ),
            event(
                "user.updated.json",
                json!({ "id": id, "first_name": "C", "updated_at": 3_000 }),
                None,
            ),
            event(
                "user.deleted.json",
                json!({ "id": id }),
                Some(1_716_900_000_000),
            ),
        ]
        .map(send)
    };
    // Stable svix-ids per event, so the tie-break ranks them alike in every round.
    let svix_ids = |round: usize| (0..4).map(move |i| format!("msg_{i}_{round}"));
    for (svix_id, body) in svix_ids(0).zip(events("user_in_order")) {
        expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
    }
    let in_order = user_row(&app, "user_in_order").await.replace("_0", "_N");
    let mut seed = 7u64;
    for round in 1..=20 {
        let id = format!("user_race_{round}");
        let mut deliveries: Vec<(String, String)> = svix_ids(round).zip(events(&id)).collect();
        for i in (1..deliveries.len()).rev() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            deliveries.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let answers = app.deliver_concurrently(&deliveries).await;
        assert!(
            answers.iter().all(|(status, _)| *status == 200),
            "{answers:?}"
        );
        let raced = user_row(&app, &id)
            .await
            .replace(&format!("_{round}\""), "_N\"");
        assert_eq!(raced, in_order, "round {round}");
    }
}

async fn apply(pool: &sqlx::PgPool, bodies: &[(String, String)]) -> Result<(), sqlx::Error> {
    use clerk_sync::delivery::Delivery;
    let webhooks: Vec<Delivery> = bodies
        .iter()
        .map(|(id, body)| verified_delivery(id, body))
        .collect();
    let refs: Vec<&Delivery> = webhooks.iter().collect();
    let mut tx = clerk_sync::db::begin_write(pool).await?;
    clerk_sync::apply_batch(&mut tx, &refs, None)
        .await
        .map_err(|err| match err {
            clerk_sync::ApplyError::Database(err) => err,
            other => panic!("{other}"),
        })?;
    tx.commit().await
}

fn delivery(body: String) -> (String, String) {
    (new_svix_id(), body)
}

fn deleted(file: &str, id: &str) -> String {
    event(file, json!({ "id": id }), Some(1_716_900_000_000))
}

fn membership(id: &str, org: &str, user: &str) -> String {
    event(
        "organizationMembership.created.json",
        json!({ "id": id, "organization": { "id": org }, "public_user_data": { "user_id": user } }),
        None,
    )
}

/// Batches that take the same rows in opposite orders — a user upserted in one and deleted in
/// the other, and the reverse; a user's and an organization's deletions cascading onto the same
/// memberships — run at the same time, again and again. None may deadlock: each batch succeeds
/// at its first attempt (no retry here to hide one).
#[sqlx::test(migrations = false)]
async fn batches_built_to_collide_take_their_locks_in_one_order(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(db)
        .await
        .unwrap();
    clerk_sync::db::migrate(&pool).await.unwrap();
    for round in 0..25 {
        let user = |n: u8| format!("user_{round}_{n}");
        let org = |n: u8| format!("org_{round}_{n}");
        let mut members = Vec::new();
        for u in [3, 4] {
            for o in [1, 2] {
                let id = format!("orgmem_{round}_{u}_{o}");
                members.push(delivery(membership(&id, &org(o), &user(u))));
            }
        }
        apply(&pool, &members).await.unwrap();

        let a = vec![
            delivery(user_event("user.updated", &user(1), 5, "A")),
            delivery(deleted("user.deleted.json", &user(2))),
            delivery(deleted("organization.deleted.json", &org(1))),
            delivery(deleted("organization.deleted.json", &org(2))),
        ];
        let b = vec![
            delivery(user_event("user.updated", &user(2), 5, "B")),
            delivery(deleted("user.deleted.json", &user(1))),
            delivery(deleted("user.deleted.json", &user(3))),
            delivery(deleted("user.deleted.json", &user(4))),
        ];
        let (ra, rb) = rocket::tokio::join!(apply(&pool, &a), apply(&pool, &b));
        ra.unwrap_or_else(|err| panic!("round {round}, batch a: {err}"));
        rb.unwrap_or_else(|err| panic!("round {round}, batch b: {err}"));
        let live: i64 = sqlx::query_scalar(
            "select count(*) from clerk.organization_memberships
             where id like $1 and deleted_at is null",
        )
        .bind(format!("orgmem_{round}_%"))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(live, 0, "round {round}");
    }
}

/// Batches applied at once, each statement claiming and locking its users, run at the same time
/// as each other and as transactions that delete the same users, on users listed in opposite
/// orders. None may deadlock or lose a write: each succeeds at its first attempt, and every user
/// ends deleted with the newest name.
#[sqlx::test(migrations = false)]
async fn batches_applied_at_once_and_in_transactions_collide_without_deadlock(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    use clerk_sync::delivery::Delivery;
    use clerk_sync::AtOnce;
    // At READ COMMITTED, which a batch applied at once needs, whatever the database's default.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect_with(read_committed(db))
        .await
        .unwrap();
    clerk_sync::db::migrate(&pool).await.unwrap();
    let at_once = |bodies: Vec<(String, String)>| {
        let pool = pool.clone();
        async move {
            let webhooks: Vec<Delivery> = bodies
                .iter()
                .map(|(id, body)| verified_delivery(id, body))
                .collect();
            let refs: Vec<&Delivery> = webhooks.iter().collect();
            let mut conn = pool.acquire().await.unwrap();
            clerk_sync::apply_at_once(&mut conn, &refs).await
        }
    };
    let now = now_millis();
    for round in 0..25 {
        let user = |n: u8| format!("user_{round}_{n}");
        let updates = |name: &str, at: i64, order: [u8; 4]| {
            order
                .iter()
                .map(|&n| {
                    delivery(sent_at(
                        &user_event("user.updated", &user(n), at, name),
                        now,
                    ))
                })
                .collect::<Vec<_>>()
        };
        let deletions = (1..=4)
            .rev()
            .map(|n| {
                delivery(event(
                    "user.deleted.json",
                    json!({ "id": user(n) }),
                    Some(now),
                ))
            })
            .collect::<Vec<_>>();
        let (ra, rb, rc) = rocket::tokio::join!(
            at_once(updates("A", 5, [1, 2, 3, 4])),
            at_once(updates("B", 6, [4, 3, 2, 1])),
            apply(&pool, &deletions),
        );
        for (batch, result) in [("a", ra), ("b", rb)] {
            match result {
                Ok(AtOnce::Applied(outcomes)) => assert_eq!(outcomes.len(), 4),
                other => panic!("round {round}, batch {batch}: {other:?}"),
            }
        }
        rc.unwrap_or_else(|err| panic!("round {round}, deletions: {err}"));
        let rows: Vec<(String, bool)> = sqlx::query_as(
            "select last_name, deleted_at is not null from clerk.users where id like $1",
        )
        .bind(format!("user_{round}_%"))
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(rows, vec![("B".to_owned(), true); 4], "round {round}");
    }
}

/// An application's hooks that lock its own rows in opposite orders make Postgres abort one
/// batch as a deadlock; the writer runs it again, and both deliveries are answered 200.
#[sqlx::test(migrations = false)]
async fn a_deadlock_in_hooks_is_run_again_without_a_5xx(_: PgPoolOptions, db: PgConnectOptions) {
    use clerk_sync::clerk::ClerkEvent;
    use clerk_sync::delivery::Delivery;
    use clerk_sync::hooks::{HookError, Hooks};
    use clerk_sync::hooks::{Outcome, Tx};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct OppositeOrders(Arc<AtomicUsize>);

    #[rocket::async_trait]
    impl Hooks for OppositeOrders {
        async fn in_transaction(
            &self,
            tx: &mut Tx<'_>,
            webhook: &Delivery,
            _: Outcome,
        ) -> Result<(), HookError> {
            let ClerkEvent::UserCreated(user) = webhook.event() else {
                return Ok(());
            };
            self.0.fetch_add(1, Ordering::SeqCst);
            let (first, second) = if user.id == "user_a" { (1, 2) } else { (2, 1) };
            for (id, pause) in [(first, "0.3"), (second, "0")] {
                sqlx::query("update counters set n = n + 1 where id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(&format!("select pg_sleep({pause})"))
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        }
    }

    let hooks = OppositeOrders::default();
    let mut settings = settings(SECRET);
    // One delivery per batch, two batches at once.
    settings.batch.max_events = 1;
    settings.batch.writers = 2;
    let app = TestApp::with_hooks(db, settings, hooks.clone()).await;
    sqlx::query("create table counters (id int primary key, n int not null)")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("insert into counters values (1, 0), (2, 0)")
        .execute(&app.db)
        .await
        .unwrap();
    let deliveries = vec![
        delivery(user_event("user.created", "user_a", 1, "A")),
        delivery(user_event("user.created", "user_b", 1, "B")),
    ];
    for (status, ack) in app.deliver_concurrently(&deliveries).await {
        assert_eq!(status, 200, "{ack}");
    }
    assert_eq!(app.user_rows().await, 2);
    // Both hooks ran to the end once each, in committed transactions...
    assert_eq!(app.count("select sum(n) from counters").await, 4);
    // ...and one of them ran a second time: the deadlock was met and overcome.
    assert_eq!(hooks.0.load(Ordering::SeqCst), 3);
}
