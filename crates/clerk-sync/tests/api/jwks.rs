//! The session guard with its keys from a JWKS URL (feature `jwks`): the key set is served over
//! real HTTP by a small server in the test, which counts the fetches and can be changed (a key
//! rotation) or broken (Clerk down) while the app runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clerk_sync::config::{Settings, JWKS_URL_VAR, JWT_KEY_VAR, SIGNING_SECRET_VAR};
use clerk_sync::session::{self, ClerkSession, JwksSource, SessionError, SessionVerifier};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header as JwtHeader};
use rocket::futures::future::join_all;
use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use rocket::serde::json::Json;
use rocket::tokio::io::{AsyncReadExt, AsyncWriteExt};
use rocket::tokio::net::TcpListener;
use serde_json::{json, Value};

use crate::session::{keys, v1_claims, with};
use clerk_sync_test_support::*;

/// A JWKS endpoint on 127.0.0.1: answers every request with the current status and body, and
/// counts the requests.
struct JwksServer {
    url: String,
    answer: Arc<Mutex<(u16, String)>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(status: u16, body: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/.well-known/jwks.json",
            listener.local_addr().unwrap().port()
        );
        let answer = Arc::new(Mutex::new((status, body)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (shared, count) = (Arc::clone(&answer), Arc::clone(&fetches));
        rocket::tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (shared, count) = (Arc::clone(&shared), Arc::clone(&count));
                rocket::tokio::spawn(async move {
                    // The request's head (a GET has no body).
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = shared.lock().unwrap().clone();
                    let response = format!(
                        "HTTP/1.1 {status} Test\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self {
            url,
            answer,
            fetches,
        }
    }

    fn set(&self, status: u16, body: String) {
        *self.answer.lock().unwrap() = (status, body);
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// A JSON Web Key Set of `(kid, key)` as Clerk publishes it.
fn jwks(keys: &[(&str, &RsaKeys)]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(kid, key)| {
            let (n, e) = key.public_components();
            json!({
                "use": "sig", "kty": "RSA", "kid": kid, "alg": "RS256",
                "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e),
            })
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

fn ours() -> &'static RsaKeys {
    &keys().0
}

fn theirs() -> &'static RsaKeys {
    &keys().1
}

fn sign_kid(kid: Option<&str>, key: &RsaKeys) -> String {
    let mut header = JwtHeader::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    encode(
        &header,
        &v1_claims(),
        &EncodingKey::from_rsa_der(&key.private_der),
    )
    .unwrap()
}

fn source(server: &JwksServer) -> JwksSource {
    JwksSource::new(&server.url).unwrap()
}

#[rocket::get("/me")]
fn me(session: ClerkSession) -> Json<Value> {
    Json(json!({ "user_id": session.user_id() }))
}

async fn client(verifier: SessionVerifier) -> Client {
    let rocket = rocket::build()
        .manage(verifier)
        .mount("/", rocket::routes![me])
        .register("/", session::catchers());
    Client::tracked(rocket).await.expect("the app launches")
}

async fn get(client: &Client, token: &str) -> (Status, Value) {
    let response = client
        .get("/me")
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await;
    let status = response.status();
    (status, response.into_json().await.expect("a JSON body"))
}

fn unauthorized() -> Value {
    json!({ "error": "unauthorized", "message": "a valid Clerk session token is required" })
}

fn keys_unavailable() -> Value {
    json!({
        "error": "keys_unavailable",
        "message": "the session keys could not be fetched; retry later",
    })
}

#[rocket::async_test]
async fn a_token_is_verified_with_a_key_of_the_jwks_fetched_once() {
    let server = JwksServer::start(200, jwks(&[("ins_key_1", ours())])).await;
    let verifier = SessionVerifier::from_jwks(source(&server)).unwrap();
    let token = sign_kid(Some("ins_key_1"), ours());
    // Nothing is fetched before a request needs it; `verify` never fetches.
    assert_eq!(server.fetches(), 0);
    assert_eq!(
        verifier.verify(&token, SystemTime::now()),
        Err(SessionError::KeysUnavailable)
    );
    let client = client(verifier.clone()).await;
    for _ in 0..3 {
        assert_eq!(
            get(&client, &token).await,
            (Status::Ok, json!({ "user_id": "user_1" }))
        );
    }
    assert_eq!(server.fetches(), 1, "fetched once, then cached");
    // Now cached, the networkless `verify` knows the key too.
    assert!(verifier.verify(&token, SystemTime::now()).is_ok());
    // Lenient without a kid while the set holds a single key.
    assert_eq!(get(&client, &sign_kid(None, ours())).await.0, Status::Ok);
    // Another instance's key under our kid: the signature does not match.
    let forged = sign_kid(Some("ins_key_1"), theirs());
    assert_eq!(
        verifier.verify_fetching(&forged, SystemTime::now()).await,
        Err(SessionError::BadSignature)
    );
    assert_eq!(
        get(&client, &forged).await,
        (Status::Unauthorized, unauthorized())
    );
    assert_eq!(server.fetches(), 1);
}

#[rocket::async_test]
async fn a_rotated_key_is_accepted_after_exactly_one_refetch() {
    let server = JwksServer::start(200, jwks(&[("ins_old", ours())])).await;
    // No minimum interval: this test is about the refetch itself, the next about its limit.
    let verifier =
        SessionVerifier::from_jwks(source(&server).refresh_interval(Duration::ZERO)).unwrap();
    let client = client(verifier).await;
    assert_eq!(
        get(&client, &sign_kid(Some("ins_old"), ours())).await.0,
        Status::Ok
    );
    assert_eq!(server.fetches(), 1);

    // Clerk rotates: the set now holds only the new key.
    server.set(200, jwks(&[("ins_new", theirs())]));
    let rotated = sign_kid(Some("ins_new"), theirs());
    assert_eq!(
        get(&client, &rotated).await,
        (Status::Ok, json!({ "user_id": "user_1" }))
    );
    assert_eq!(server.fetches(), 2, "one refetch for the new kid");
    assert_eq!(get(&client, &rotated).await.0, Status::Ok);
    assert_eq!(server.fetches(), 2, "the new key is cached");
}

#[rocket::async_test]
async fn unknown_kids_are_refused_with_at_most_one_refetch_per_interval() {
    let interval = Duration::from_millis(300);
    let server = JwksServer::start(200, jwks(&[("ins_key_1", ours())])).await;
    let verifier = SessionVerifier::from_jwks(source(&server).refresh_interval(interval)).unwrap();
    let client = client(verifier.clone()).await;
    assert_eq!(
        get(&client, &sign_kid(Some("ins_key_1"), ours())).await.0,
        Status::Ok
    );
    assert_eq!(server.fetches(), 1);

    // Within the interval of that fetch: made-up kids cost no fetch at all.
    let made_up: Vec<String> = (0..20)
        .map(|i| sign_kid(Some(&format!("ins_made_up_{i}")), ours()))
        .collect();
    for answer in join_all(made_up.iter().map(|token| get(&client, token))).await {
        assert_eq!(answer, (Status::Unauthorized, unauthorized()));
    }
    assert_eq!(server.fetches(), 1);

    // Once the interval has passed, a flood of them, all at once: one fetch, which the others
    // wait for and use.
    rocket::tokio::time::sleep(interval + Duration::from_millis(50)).await;
    let flood = made_up
        .iter()
        .map(|token| verifier.verify_fetching(token, SystemTime::now()));
    for result in join_all(flood).await {
        assert_eq!(result, Err(SessionError::UnknownKey));
    }
    for answer in join_all(made_up.iter().map(|token| get(&client, token))).await {
        assert_eq!(answer, (Status::Unauthorized, unauthorized()));
    }
    assert_eq!(server.fetches(), 2, "one refetch for the whole flood");
    // The known key never waits for any of that.
    assert_eq!(
        get(&client, &sign_kid(Some("ins_key_1"), ours())).await.0,
        Status::Ok
    );
    assert_eq!(server.fetches(), 2);
}

#[rocket::async_test]
async fn a_jwks_that_is_down_at_first_use_is_503_json_then_works_once_up() {
    let server = JwksServer::start(503, "upstream down".into()).await;
    let verifier =
        SessionVerifier::from_jwks(source(&server).retry_interval(Duration::ZERO)).unwrap();
    let client = client(verifier).await;
    let token = sign_kid(Some("ins_key_1"), ours());
    assert_eq!(
        get(&client, &token).await,
        (Status::ServiceUnavailable, keys_unavailable())
    );
    assert_eq!(server.fetches(), 1);

    // Up, but not a key set; then a set without a usable key: still 503.
    server.set(200, "<html>not json</html>".into());
    assert_eq!(
        get(&client, &token).await,
        (Status::ServiceUnavailable, keys_unavailable())
    );
    server.set(
        200,
        json!({ "keys": [{ "kty": "EC", "kid": "x" }] }).to_string(),
    );
    assert_eq!(
        get(&client, &token).await,
        (Status::ServiceUnavailable, keys_unavailable())
    );
    assert_eq!(server.fetches(), 3);

    // Up: the next request fetches and passes.
    server.set(200, jwks(&[("ins_key_1", ours())]));
    assert_eq!(
        get(&client, &token).await,
        (Status::Ok, json!({ "user_id": "user_1" }))
    );
    assert_eq!(server.fetches(), 4);
}

#[rocket::async_test]
async fn a_jwks_that_is_down_is_retried_at_most_once_per_retry_interval() {
    // Nothing listens on this port: the connection itself fails.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{closed}/.well-known/jwks.json");
    let client = client(SessionVerifier::from_jwks_url(&url).unwrap()).await;
    let token = sign_kid(Some("ins_key_1"), ours());
    assert_eq!(
        get(&client, &token).await,
        (Status::ServiceUnavailable, keys_unavailable())
    );

    // A server that is down (503) is asked once per retry interval (10 s by default), not once
    // per request.
    let server = JwksServer::start(503, String::new()).await;
    let client = client_for(&server).await;
    for answer in join_all((0..10).map(|_| get(&client, &token))).await {
        assert_eq!(answer, (Status::ServiceUnavailable, keys_unavailable()));
    }
    assert_eq!(server.fetches(), 1);
}

async fn client_for(server: &JwksServer) -> Client {
    client(SessionVerifier::from_jwks(source(server)).unwrap()).await
}

#[rocket::async_test]
async fn alg_none_and_hs256_with_the_public_key_are_refused_before_any_fetch() {
    let server = JwksServer::start(200, jwks(&[("ins_key_1", ours())])).await;
    let verifier = SessionVerifier::from_jwks(source(&server)).unwrap();
    let client = client(verifier.clone()).await;

    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"ins_key_1"}"#);
    let payload = URL_SAFE_NO_PAD.encode(v1_claims().to_string());
    let none = format!("{header}.{payload}.");
    // Algorithm confusion: an HMAC keyed with the public key (PEM, or the JWK's modulus).
    let mut hs256 = JwtHeader::new(Algorithm::HS256);
    hs256.kid = Some("ins_key_1".into());
    let confused = [
        ours().public_pem.as_bytes().to_vec(),
        ours().public_components().0,
    ]
    .map(|secret| encode(&hs256, &v1_claims(), &EncodingKey::from_secret(&secret)).unwrap());

    let now = SystemTime::now();
    assert_eq!(
        verifier.verify_fetching(&none, now).await,
        Err(SessionError::Malformed)
    );
    for token in &confused {
        assert_eq!(
            verifier.verify_fetching(token, now).await,
            Err(SessionError::WrongAlgorithm)
        );
    }
    for token in confused.iter().chain([&none]) {
        assert_eq!(
            get(&client, token).await,
            (Status::Unauthorized, unauthorized())
        );
    }
    assert_eq!(server.fetches(), 0, "refused before any key was looked up");

    // And once the keys are cached, still refused.
    assert_eq!(
        get(&client, &sign_kid(Some("ins_key_1"), ours())).await.0,
        Status::Ok
    );
    for token in confused.iter().chain([&none]) {
        assert_eq!(get(&client, token).await.0, Status::Unauthorized);
    }
    // The other checks are the PEM verifier's: an expired token is refused too.
    let expired = encode(
        &{
            let mut header = JwtHeader::new(Algorithm::RS256);
            header.kid = Some("ins_key_1".into());
            header
        },
        &with(v1_claims(), json!({ "exp": now_seconds() - 60 })),
        &EncodingKey::from_rsa_der(&ours().private_der),
    )
    .unwrap();
    assert_eq!(
        verifier.verify_fetching(&expired, SystemTime::now()).await,
        Err(SessionError::Expired)
    );
    assert_eq!(server.fetches(), 1);
}

fn settings(vars: &[(&str, &str)]) -> Result<Settings, clerk_sync::config::ConfigError> {
    Settings::from_lookup(|name| {
        (name == SIGNING_SECRET_VAR)
            .then(|| SECRET.to_owned())
            .or_else(|| {
                vars.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            })
    })
}

#[test]
fn the_jwks_url_is_read_with_the_other_settings_and_the_pem_key_wins() {
    let url = "https://clerk.example.com/.well-known/jwks.json";
    let verifier = settings(&[(JWKS_URL_VAR, url)]).unwrap().session.unwrap();
    assert!(format!("{verifier:?}").contains(url));
    // Both set: the PEM key, no network.
    let verifier = settings(&[(JWKS_URL_VAR, url), (JWT_KEY_VAR, &ours().public_pem)])
        .unwrap()
        .session
        .unwrap();
    assert!(!format!("{verifier:?}").contains("jwks"));
    for url in [
        "http://clerk.example.com/.well-known/jwks.json",
        "clerk.example.com",
    ] {
        let err = settings(&[(JWKS_URL_VAR, url)]).unwrap_err();
        assert!(
            err.to_string().starts_with("CLERK_JWKS_URL is invalid: "),
            "{err}"
        );
    }
    assert!(settings(&[(JWKS_URL_VAR, "http://localhost:4000/jwks")]).is_ok());
}
