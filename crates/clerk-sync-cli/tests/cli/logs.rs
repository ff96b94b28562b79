//! What reaches the logs: the svix-id, the event type and the Clerk object id of every delivery
//! — and none of the personal data in the payloads.

use std::collections::BTreeSet;

use clerk_sync::clerk::Envelope;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

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

pub fn personal_values(value: &Value, found: &mut BTreeSet<String>) {
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

/// What a full run delivered, and what it printed.
struct FullRun {
    logged: String,
    /// Every personal value in the payloads sent.
    personal: BTreeSet<String>,
    /// Per accepted delivery: svix-id, event type, object id (`-` when it has none), outcome.
    delivered: Vec<[String; 4]>,
    /// The svix-id of the delivery refused for its signature.
    refused: String,
}

/// Sends every fixture, a delivery signed with the wrong secret and one whose payload cannot be
/// read to a standalone server logging in `format` with `RUST_LOG=filter` ("" for the default),
/// then stops it.
async fn full_run(db: &PgConnectOptions, format: &str, filter: &str) -> FullRun {
    let log = std::env::temp_dir().join(format!("clerk-sync-log-{}.txt", new_svix_id()));
    let url = database_url(db).await;
    let command_env = [
        ("ROCKET_LOG_LEVEL", "debug"),
        ("RUST_LOG", filter),
        ("CLERK_SYNC_LOG_FORMAT", format),
    ];
    let mut server = Standalone::spawn_with(serve(), &url, Some(&log), &command_env);
    server.ready().await;

    let mut personal = BTreeSet::new();
    let mut delivered = Vec::new();
    for file in all_fixture_files() {
        let body = fixture(&file);
        personal_values(&serde_json::from_str(&body).unwrap(), &mut personal);
        let envelope = Envelope::parse(&body).unwrap();
        let svix_id = new_svix_id();
        let (status, answer) = post_signed(server.port, &svix_id, &body).await.unwrap();
        assert_eq!(status, 200, "{file}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        delivered.push([
            svix_id,
            envelope.event_type.clone(),
            envelope.object_id().unwrap(),
            answer["outcome"].as_str().unwrap().to_owned(),
        ]);
    }
    // Refused deliveries must not leak either.
    let body = fixture("user.created.json");
    let refused = new_svix_id();
    let mut headers = signed_headers(OTHER_SECRET, &refused, now_seconds(), body.as_bytes());
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
    let unreadable = new_svix_id();
    let (status, _) = post_signed(
        server.port,
        &unreadable,
        r#"{"type":"user.created","data":{"id":7,"email_address":"leak@example.com"}}"#,
    )
    .await
    .unwrap();
    // Kept as `failed` and logged loudly, with the reason but none of the payload.
    assert_eq!(status, 200);
    personal.insert("leak@example.com".to_owned());
    delivered.push([
        unreadable,
        "user.created".to_owned(),
        "-".to_owned(),
        "failed".to_owned(),
    ]);

    server.signal("TERM");
    server.child.wait().unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).ok();
    FullRun {
        logged,
        personal,
        delivered,
        refused,
    }
}

/// The ids and types of every delivery are in the logs; no personal value, no secret is.
fn assert_ids_but_no_personal_data(run: &FullRun) {
    let FullRun {
        logged, personal, ..
    } = run;
    assert!(personal.len() > 20, "{personal:?}");
    let leaked: Vec<(&String, &str)> = personal
        .iter()
        .filter_map(|value| Some((value, line_with_word(logged, value)?)))
        .collect();
    assert!(leaked.is_empty(), "personal data in the logs: {leaked:#?}");
    assert!(
        !logged.contains("whsec_") && !logged.contains(&SECRET[6..]),
        "the secret is in the logs"
    );
    let missing: Vec<&String> = run
        .delivered
        .iter()
        .flat_map(|ids| &ids[..3])
        .filter(|value| *value != "-" && !logged.contains(value.as_str()))
        .collect();
    assert!(missing.is_empty(), "not in the logs: {missing:?}");
}

/// The first line of `logged` where `word` stands as a word of its own: not inside a longer run
/// of letters and digits, where a short value ("Doe") can turn up by chance (in a base64 or
/// random string) without being the value.
fn line_with_word<'l>(logged: &'l str, word: &str) -> Option<&'l str> {
    let stands_alone = |c: Option<char>| !c.is_some_and(char::is_alphanumeric);
    logged.lines().find(|line| {
        line.match_indices(word).any(|(at, _)| {
            stands_alone(line[..at].chars().next_back())
                && stands_alone(line[at + word.len()..].chars().next())
        })
    })
}

#[sqlx::test(migrations = false)]
async fn a_full_run_logs_ids_and_types_but_no_personal_data(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    assert_ids_but_no_personal_data(&full_run(&db, "text", "debug").await);
}

#[sqlx::test(migrations = false)]
async fn in_text_every_line_starts_with_a_timestamp_and_a_delivery_line_has_its_ids_outcome_and_time(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    // At the default level: at debug, some libraries' messages span lines.
    let run = full_run(&db, "text", "").await;
    assert_ids_but_no_personal_data(&run);
    // Every line starts with an RFC 3339 UTC time.
    for line in run.logged.lines() {
        let time = line.split(' ').next().unwrap();
        assert!(
            time.len() >= 20 && time.as_bytes()[10] == b'T' && time.ends_with('Z'),
            "no timestamp: {line}"
        );
    }
    let [svix_id, event_type, object_id, outcome] = &run.delivered[0];
    let line = run
        .logged
        .lines()
        .find(|line| line.contains(svix_id.as_str()) && line.contains("duration_ms="))
        .unwrap_or_else(|| panic!("no line for {svix_id}:\n{}", run.logged));
    for expected in [
        format!(r#"svix_id="{svix_id}""#),
        format!(r#"event_type="{event_type}""#),
        format!(r#"object_id="{object_id}""#),
        format!(r#"outcome="{outcome}""#),
        "status=200".to_owned(),
    ] {
        assert!(line.contains(&expected), "{expected} not in {line}");
    }
}

#[sqlx::test(migrations = false)]
async fn in_json_every_line_is_an_object_and_each_delivery_has_one_line_with_its_ids_outcome_and_time(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let run = full_run(&db, "json", "debug").await;
    assert_ids_but_no_personal_data(&run);
    let lines: Vec<Value> = run
        .logged
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    for line in &lines {
        let time = line["timestamp"].as_str().unwrap_or_default();
        assert!(time.contains('T') && time.ends_with('Z'), "{line}");
        assert!(
            line["level"].is_string() && line["target"].is_string(),
            "{line}"
        );
    }
    // The delivery's line is the one that carries its duration.
    let delivery_lines = |svix_id: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|line| line["svix_id"] == svix_id && line["duration_ms"].is_u64())
            .collect()
    };
    for [svix_id, event_type, object_id, outcome] in &run.delivered {
        let found = delivery_lines(svix_id);
        assert_eq!(found.len(), 1, "{svix_id}: {found:?}");
        let line = found[0];
        assert_eq!(line["event_type"], event_type.as_str(), "{line}");
        assert_eq!(line["object_id"], object_id.as_str(), "{line}");
        assert_eq!(line["outcome"], outcome.as_str(), "{line}");
        assert_eq!(line["status"], 200, "{line}");
        // Where its time went: waiting for a writer, then its batch's transaction.
        let (queue, commit) = (line["queue_ms"].as_f64(), line["commit_ms"].as_f64());
        assert!(queue.is_some_and(|ms| ms >= 0.0), "{line}");
        assert!(commit.is_some_and(|ms| ms > 0.0), "{line}");
        assert!(
            queue.unwrap() + commit.unwrap() <= line["duration_ms"].as_f64().unwrap() + 1.0,
            "{line}"
        );
    }
    let refused = delivery_lines(&run.refused);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["code"], "invalid_signature", "{}", refused[0]);
    assert_eq!(refused[0]["status"], 401, "{}", refused[0]);
}
