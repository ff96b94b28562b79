//! Malformed and malicious requests: each gets the right 4xx, a small machine-readable JSON
//! error, and stores nothing. No panic anywhere (a panic would surface as a 500).

use rocket::http::{ContentType, Header, Method};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync_test_support::*;

struct Case {
    name: &'static str,
    method: Method,
    path: &'static str,
    content_type: Option<ContentType>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

/// A correctly signed request to start from.
struct Valid {
    id: String,
    timestamp: String,
    body: Vec<u8>,
}

impl Valid {
    fn new() -> Self {
        Self::with_body(user_event("user.created", "user_1", 1, "Doe").into_bytes())
    }

    fn with_body(body: Vec<u8>) -> Self {
        Self {
            id: new_svix_id(),
            timestamp: now_seconds().to_string(),
            body,
        }
    }

    fn signature(&self) -> String {
        self.sign(SECRET, &self.id, &self.timestamp)
    }

    fn sign(&self, secret: &str, id: &str, timestamp: &str) -> String {
        let key = clerk_sync::svix::SigningKey::parse(secret).unwrap();
        clerk_sync::svix::sign(&key, id, timestamp, &self.body)
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("svix-id", self.id.clone()),
            ("svix-timestamp", self.timestamp.clone()),
            ("svix-signature", self.signature()),
        ]
    }

    /// The valid headers with one replaced (or removed, with `None`).
    fn with(&self, name: &str, value: Option<String>) -> Vec<(&'static str, String)> {
        self.headers()
            .into_iter()
            .filter_map(|(n, v)| {
                if n == name {
                    value.clone().map(|value| (n, value))
                } else {
                    Some((n, v))
                }
            })
            .collect()
    }

    /// The valid headers plus a second copy of one.
    fn duplicated(&self, name: &str) -> Vec<(&'static str, String)> {
        let mut headers = self.headers();
        let copy = headers.iter().find(|(n, _)| *n == name).unwrap().clone();
        headers.push(copy);
        headers
    }

    /// Signed with a timestamp header of `timestamp`.
    fn at(timestamp: &str) -> Vec<(&'static str, String)> {
        let mut valid = Self::new();
        valid.timestamp = timestamp.to_owned();
        valid.headers()
    }

    fn case(
        self,
        name: &'static str,
        headers: Vec<(&'static str, String)>,
        status: u16,
        code: &'static str,
    ) -> Case {
        Case {
            name,
            method: Method::Post,
            path: "/webhooks/clerk",
            content_type: Some(ContentType::JSON),
            headers,
            body: self.body,
            status,
            code,
        }
    }
}

/// A `v1,` entry whose MAC differs from the given one in its first character.
fn corrupt(entry: &str) -> String {
    let first = if entry.as_bytes()[3] == b'A' {
        "B"
    } else {
        "A"
    };
    format!("v1,{first}{}", &entry[4..])
}

fn signed_body(
    name: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
) -> Case {
    let valid = Valid::with_body(body.into());
    let headers = valid.headers();
    valid.case(name, headers, status, code)
}

fn cases() -> Vec<Case> {
    let v = Valid::new;
    let sig_of = |f: &dyn Fn(&Valid) -> String| {
        let valid = Valid::new();
        let signature = f(&valid);
        let headers = valid.with("svix-signature", Some(signature));
        (valid, headers)
    };
    let mut cases = Vec::new();
    for name in ["svix-id", "svix-timestamp", "svix-signature"] {
        let valid = v();
        let headers = valid.with(name, None);
        cases.push(valid.case("a missing header", headers, 400, "missing_header"));
        let valid = v();
        let headers = valid.with(name, Some(String::new()));
        cases.push(valid.case("an empty header", headers, 400, "malformed_header"));
        let valid = v();
        let headers = valid.duplicated(name);
        cases.push(valid.case("a duplicated header", headers, 400, "malformed_header"));
        let valid = v();
        let headers = valid.with(name, Some("é".repeat(8)));
        cases.push(valid.case("a non-ASCII header", headers, 400, "malformed_header"));
    }
    let valid = v();
    let headers = valid.with("svix-id", Some("m".repeat(300)));
    cases.push(valid.case("an oversized svix-id", headers, 400, "malformed_header"));
    let valid = v();
    let headers = valid.with("svix-signature", Some(format!("v1,{}", "A".repeat(5000))));
    cases.push(valid.case(
        "an oversized signature header",
        headers,
        400,
        "malformed_header",
    ));
    let valid = v();
    let headers = valid.with("svix-timestamp", Some("9".repeat(40)));
    cases.push(valid.case("an oversized timestamp", headers, 400, "malformed_header"));
    let valid = v();
    let headers = valid.with("svix-id", Some("msg 1".into()));
    cases.push(valid.case("an svix-id with a space", headers, 400, "malformed_header"));
    let valid = v();
    let headers = valid
        .headers()
        .into_iter()
        .map(|(n, val)| {
            (
                n.replacen("svix-", "webhook-", 1).leak() as &'static str,
                val,
            )
        })
        .filter(|(n, _)| *n != "webhook-signature")
        .collect();
    cases.push(valid.case(
        "unbranded headers without a signature",
        headers,
        400,
        "missing_header",
    ));

    let now = now_seconds();
    for (name, timestamp) in [
        ("a negative timestamp", format!("-{now}")),
        ("a timestamp with a plus sign", format!("+{now}")),
        ("a fractional timestamp", format!("{now}.5")),
        ("a timestamp with leading zeros", format!("00{now}")),
        ("a timestamp in scientific notation", "1.7e9".to_owned()),
        ("a timestamp with spaces", format!(" {now} ")),
        ("a timestamp beyond u64", "99999999999999999999".to_owned()),
        ("a hexadecimal timestamp", format!("{now:x}")),
    ] {
        cases.push(Valid::new().case(name, Valid::at(&timestamp), 400, "malformed_timestamp"));
    }
    for (name, timestamp) in [
        ("a timestamp in milliseconds", format!("{}", now * 1000)),
        ("a timestamp ten minutes old", format!("{}", now - 600)),
        ("a timestamp ten minutes ahead", format!("{}", now + 600)),
        ("a zero timestamp", "0".to_owned()),
    ] {
        cases.push(Valid::new().case(
            name,
            Valid::at(&timestamp),
            401,
            "timestamp_out_of_tolerance",
        ));
    }

    type Sign = fn(&Valid) -> String;
    let signatures: [(&'static str, Sign); 11] = [
        ("only other signature versions", |v| {
            v.signature().replacen("v1,", "v2,", 1)
        }),
        ("a signature that is not base64", |_| {
            "v1,!!!!not-base64!!!!".into()
        }),
        ("a truncated MAC", |v| v.signature()[..20].to_owned()),
        ("a bare v1,", |_| "v1,".into()),
        ("a v1 without a comma", |_| "v1".into()),
        ("an uppercase V1", |v| {
            v.signature().replacen("v1,", "V1,", 1)
        }),
        ("a MAC without its padding", |v| {
            v.signature().trim_end_matches('=').to_owned()
        }),
        ("a signature for another svix-id", |v| {
            v.sign(SECRET, "msg_other", &v.timestamp)
        }),
        ("a signature over another timestamp", |v| {
            v.sign(SECRET, &v.id, &(now_seconds() - 1).to_string())
        }),
        ("a signature with the wrong secret", |v| {
            v.sign(OTHER_SECRET, &v.id, &v.timestamp)
        }),
        ("a list of wrong signatures", |v| {
            let other = v.sign(OTHER_SECRET, &v.id, &v.timestamp);
            format!("{} {other}", corrupt(&v.signature()))
        }),
    ];
    for (name, sign) in signatures {
        let (valid, headers) = sig_of(&sign);
        cases.push(valid.case(name, headers, 401, "invalid_signature"));
    }

    let valid = v();
    let headers = valid.headers();
    let mut tampered = valid.case("a tampered body", headers, 401, "invalid_signature");
    tampered.body[10] ^= 1;
    cases.push(tampered);

    cases.push(signed_body("an empty body", "", 422, "invalid_event"));
    cases.push(signed_body(
        "a body that is not JSON",
        "hello",
        422,
        "invalid_event",
    ));
    cases.push(signed_body("a JSON array", "[1,2]", 422, "invalid_event"));
    cases.push(signed_body("JSON null", "null", 422, "invalid_event"));
    cases.push(signed_body(
        "a JSON string",
        "\"user.created\"",
        422,
        "invalid_event",
    ));
    cases.push(signed_body(
        "an envelope without data",
        r#"{"type":"user.created"}"#,
        422,
        "invalid_event",
    ));
    cases.push(signed_body(
        "an envelope without a type",
        r#"{"data":{"id":"user_1"}}"#,
        422,
        "invalid_event",
    ));
    cases.push(signed_body(
        "a numeric type",
        r#"{"type":1,"data":{}}"#,
        422,
        "invalid_event",
    ));
    cases.push(signed_body(
        "an empty type",
        r#"{"type":"","data":{}}"#,
        422,
        "invalid_event",
    ));
    cases.push(signed_body(
        "data that is not an object",
        r#"{"type":"future.event","data":"x"}"#,
        422,
        "invalid_event",
    ));
    cases.push(signed_body(
        "a duplicated type key",
        r#"{"type":"user.created","type":"user.deleted","data":{"id":"u"}}"#,
        422,
        "invalid_event",
    ));
    cases.push(signed_body(
        "truncated JSON",
        r#"{"type":"user.created","data":{"id":"#,
        422,
        "invalid_event",
    ));
    cases.push(signed_body(
        "JSON with trailing garbage",
        r#"{"type":"x.y","data":{}} trailing"#,
        422,
        "invalid_event",
    ));
    cases.push(signed_body(
        "deeply nested JSON",
        format!(
            r#"{{"type":"x.y","data":{{"a":{}{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
        422,
        "invalid_event",
    ));
    cases.push(signed_body(
        "a NUL escape Postgres cannot store",
        r#"{"type":"x.y","data":{"a":"\u0000"}}"#,
        422,
        "invalid_event",
    ));
    cases.push(signed_body(
        "a raw control character in a string",
        "{\"type\":\"x.y\",\"data\":{\"a\":\"\u{1}\"}}",
        422,
        "invalid_event",
    ));
    cases.push(signed_body(
        "a body that is not UTF-8",
        b"{\"type\":\"x.y\",\"data\":{\"a\":\"\xff\xfe\"}}".to_vec(),
        400,
        "body_not_utf8",
    ));
    cases.push(signed_body(
        "a body over the 1 MiB limit",
        vec![b' '; (1 << 20) + 1],
        413,
        "payload_too_large",
    ));

    for (name, content_type) in [
        ("a text/plain body", ContentType::Plain),
        ("a form body", ContentType::Form),
        ("an XML body", ContentType::XML),
    ] {
        let valid = v();
        let headers = valid.headers();
        let mut case = valid.case(name, headers, 415, "unsupported_media_type");
        case.content_type = Some(content_type);
        cases.push(case);
    }
    for method in [Method::Get, Method::Put, Method::Patch, Method::Delete] {
        let valid = v();
        let headers = valid.headers();
        let mut case = valid.case("another method", headers, 405, "method_not_allowed");
        case.method = method;
        cases.push(case);
    }
    let valid = v();
    let headers = valid.headers();
    let mut case = valid.case("a path below the endpoint", headers, 404, "http_error");
    case.path = "/webhooks/clerk/extra";
    cases.push(case);
    cases
}

#[sqlx::test(migrations = false)]
async fn every_hostile_request_gets_its_4xx_a_json_error_and_stores_nothing(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    let cases = cases();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let mut request = app.client.req(case.method, case.path).body(case.body);
        if let Some(content_type) = case.content_type {
            request = request.header(content_type);
        }
        for (name, value) in case.headers {
            request = request.header(Header::new(name, value));
        }
        let response = request.dispatch().await;
        let status = response.status().code;
        let allow = response.headers().get_one("allow").map(str::to_owned);
        let body = response.into_string().await.unwrap_or_default();
        let error: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if status != case.status
            || error["error"] != case.code
            || !error["message"].is_string()
            || body.len() > 256
        {
            failures.push(format!(
                "{} ({} {}): got {status} {body}",
                case.name, case.method, case.path
            ));
        }
        if case.status == 405 && allow.as_deref() != Some("POST") {
            failures.push(format!("{}: no Allow: POST", case.name));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(app.ledger_rows().await, 0);
    assert_eq!(app.count("select count(*) from clerk.users").await, 0);
}
