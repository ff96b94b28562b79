//! What reaches the logs: the svix-id, the event type and the Clerk object id of every delivery
//! — and none of the personal data in the payloads.

use std::collections::BTreeSet;

use clerk_sync::clerk::Envelope;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::fixtures::all_fixture_files;
use crate::helpers::*;

/// Keys whose values are personal data in Clerk payloads.
const PERSONAL: [&str; 16] = [
    "email_address",
    "to_email_address",
    "email",
    "identifier",
    "phone_number",
    "to_phone_number",
    "from_phone_number",
    "first_name",
    "last_name",
    "username",
    "client_ip",
    "ip_address",
    "user_agent",
    "city",
    "body_plain",
    "message",
];

fn personal_values(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::String(text) if PERSONAL.contains(&key.as_str()) && text.len() >= 3 => {
                        found.insert(text.clone());
                    }
                    _ => personal_values(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| personal_values(item, found)),
        _ => {}
    }
}

#[sqlx::test(migrations = false)]
async fn a_full_run_logs_ids_and_types_but_no_personal_data(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let log = std::env::temp_dir().join(format!("clerk-sync-log-{}.txt", new_svix_id()));
    let url = database_url(&db).await;
    let mut command_env = vec![("ROCKET_LOG_LEVEL", "debug")];
    command_env.push(("RUST_LOG", "debug"));
    let mut server = Standalone::spawn_with(&url, Some(&log), &command_env);
    server.ready().await;

    let mut personal = BTreeSet::new();
    let mut expected = Vec::new();
    for file in all_fixture_files() {
        let body = fixture(&file);
        personal_values(&serde_json::from_str(&body).unwrap(), &mut personal);
        let envelope = Envelope::parse(&body).unwrap();
        let svix_id = new_svix_id();
        let (status, _) = post_signed(server.port, &svix_id, &body).await.unwrap();
        assert_eq!(status, 200, "{file}");
        expected.push(svix_id);
        expected.push(envelope.event_type.clone());
        expected.push(envelope.object_id().unwrap());
    }
    // Refused deliveries must not leak either.
    let body = fixture("user.created.json");
    let mut headers = signed_headers(OTHER_SECRET, &new_svix_id(), now_seconds(), body.as_bytes());
    headers.push(("content-type", "application/json".to_owned()));
    let (status, _) = http(
        server.port,
        "POST",
        "/webhooks/clerk",
        &headers,
        body.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(status, 401);
    let (status, _) = post_signed(
        server.port,
        &new_svix_id(),
        r#"{"type":"user.created","data":{"id":7,"email_address":"leak@example.com"}}"#,
    )
    .await
    .unwrap();
    // Kept as `failed` and logged loudly, with the reason but none of the payload.
    assert_eq!(status, 200);
    personal.insert("leak@example.com".to_owned());

    server.signal("TERM");
    server.child.wait().unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).ok();
    assert!(personal.len() > 20, "{personal:?}");
    let leaked: Vec<&String> = personal
        .iter()
        .filter(|value| logged.contains(value.as_str()))
        .collect();
    assert!(leaked.is_empty(), "personal data in the logs: {leaked:?}");
    assert!(
        !logged.contains("whsec_") && !logged.contains(&SECRET[6..]),
        "the secret is in the logs"
    );
    let missing: Vec<&String> = expected
        .iter()
        .filter(|value| !logged.contains(value.as_str()))
        .collect();
    assert!(missing.is_empty(), "not in the logs: {missing:?}");
}
