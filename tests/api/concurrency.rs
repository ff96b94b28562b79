//! Concurrent deliveries: retries racing each other, and one user's events racing each other.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;

#[sqlx::test(migrations = false)]
async fn a_hundred_concurrent_deliveries_of_one_svix_id_have_exactly_one_effect(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    let svix_id = new_svix_id();
    let body = user_event("user.created", "user_1", 1, "Doe");
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
    let app = TestApp::spawn(db).await;
    let events = |id: &str| {
        vec![
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
