//! The session guard: Clerk session tokens signed here with keys made here, sent to a real Rocket
//! app through the local client. Every refusal is the same 401; the reason is checked on the
//! verifier itself, so a test cannot pass for the wrong reason.

use std::sync::OnceLock;
use std::time::SystemTime;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clerk_sync::config::{
    Settings, AUTHORIZED_PARTIES_VAR, INSTANCE_ID_VAR, JWT_KEY_VAR, SIGNING_SECRET_VAR,
};
use clerk_sync::reads::Scope;
use clerk_sync::session::{self, ClaimsVersion, ClerkSession, SessionError, SessionVerifier};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header as JwtHeader};
use rocket::http::{ContentType, Cookie, Header, Status};
use rocket::local::asynchronous::Client;
use rocket::serde::json::Json;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync_test_support::*;

const ORIGIN: &str = "https://app.example.com";

/// Our instance's keys, and another instance's: made once for the whole test binary.
pub(crate) fn keys() -> &'static (RsaKeys, RsaKeys) {
    static KEYS: OnceLock<(RsaKeys, RsaKeys)> = OnceLock::new();
    KEYS.get_or_init(|| (RsaKeys::generate(), RsaKeys::generate()))
}

pub(crate) fn verifier() -> SessionVerifier {
    SessionVerifier::from_pem(&keys().0.public_pem)
        .unwrap()
        .with_authorized_parties([ORIGIN, "http://localhost:3000"])
}

fn now() -> i64 {
    now_seconds() as i64
}

/// Version 1 claims as Clerk issues them, valid now.
pub(crate) fn v1_claims() -> Value {
    json!({
        "azp": ORIGIN, "exp": now() + 60, "iat": now(), "nbf": now() - 5,
        "iss": "https://clerk.example.com", "sid": "sess_1", "sub": "user_1",
        "org_id": "org_1", "org_role": "org:admin", "org_slug": "acme",
        "org_permissions": ["org:sys_memberships:manage", "org:dashboard:read"],
    })
}

/// Version 2 claims as Clerk issues them, valid now.
fn v2_claims() -> Value {
    json!({
        "azp": ORIGIN, "exp": now() + 60, "iat": now(), "nbf": now() - 5,
        "iss": "https://clerk.example.com", "sid": "sess_2", "sub": "user_2", "v": 2,
        "fva": [7, -1], "sts": "active", "fea": "o:dashboard,o:teams",
        "o": { "id": "org_2", "rol": "admin", "slg": "acme", "per": "manage,read", "fpm": "3,2" },
    })
}

fn sign_with(claims: &Value, private_der: &[u8]) -> String {
    let mut header = JwtHeader::new(Algorithm::RS256);
    header.kid = Some("ins_test".into());
    encode(&header, claims, &EncodingKey::from_rsa_der(private_der)).unwrap()
}

pub(crate) fn sign(claims: &Value) -> String {
    sign_with(claims, &keys().0.private_der)
}

pub(crate) fn with(mut claims: Value, edits: Value) -> Value {
    for (key, value) in edits.as_object().unwrap() {
        claims[key] = value.clone();
    }
    claims
}

#[rocket::get("/me")]
fn me(session: ClerkSession) -> Json<Value> {
    Json(json!({
        "user_id": session.user_id(),
        "session_id": session.session_id(),
        "azp": session.authorized_party(),
        "v2": session.version() == ClaimsVersion::V2,
        "org": session.org().map(|org| json!({
            "id": org.id, "slug": org.slug, "role": org.role, "permissions": org.permissions,
        })),
        "fva": session.factor_verification_age(),
    }))
}

async fn client() -> Client {
    let rocket = rocket::build()
        .manage(verifier())
        .mount("/", rocket::routes![me])
        .register("/", session::catchers());
    Client::tracked(rocket).await.expect("the app launches")
}

async fn get_with_bearer(client: &Client, token: &str) -> (Status, Value) {
    let response = client
        .get("/me")
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await;
    let status = response.status();
    (status, response.into_json().await.expect("a JSON body"))
}

/// Asserts the one 401 every refused token gets, and the reason the verifier gives.
async fn assert_refused(token: &str, reason: SessionError) {
    assert_eq!(verifier().verify(token, SystemTime::now()), Err(reason));
    let (status, body) = get_with_bearer(&client().await, token).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(
        body,
        json!({ "error": "unauthorized", "message": "a valid Clerk session token is required" })
    );
}

#[rocket::async_test]
async fn version_1_claims_are_read_from_a_bearer_token() {
    let (status, body) = get_with_bearer(&client().await, &sign(&v1_claims())).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(
        body,
        json!({
            "user_id": "user_1", "session_id": "sess_1", "azp": ORIGIN, "v2": false, "fva": null,
            "org": { "id": "org_1", "slug": "acme", "role": "org:admin",
                     "permissions": ["org:sys_memberships:manage", "org:dashboard:read"] },
        })
    );
}

#[rocket::async_test]
async fn version_2_claims_are_read_from_the_session_cookie_into_the_same_shape() {
    let client = client().await;
    let response = client
        .get("/me")
        .cookie(Cookie::new("__session", sign(&v2_claims())))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "user_id": "user_2", "session_id": "sess_2", "azp": ORIGIN, "v2": true, "fva": [7, -1],
            "org": { "id": "org_2", "slug": "acme", "role": "org:admin",
                     "permissions": ["org:dashboard:manage", "org:dashboard:read", "org:teams:read"] },
        })
    );
}

#[rocket::async_test]
async fn a_session_without_an_active_organization_has_none() {
    let mut claims = v2_claims();
    claims.as_object_mut().unwrap().remove("o");
    let (status, body) = get_with_bearer(&client().await, &sign(&claims)).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body["org"], Value::Null);
}

#[rocket::async_test]
async fn a_request_without_a_token_is_401_with_json() {
    let client = client().await;
    let response = client.get("/me").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(
        response.headers().get_one("WWW-Authenticate"),
        Some("Bearer")
    );
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
}

#[rocket::async_test]
async fn an_expired_token_is_refused() {
    let token = sign(&with(v2_claims(), json!({ "exp": now() - 30 })));
    assert_refused(&token, SessionError::Expired).await;
}

#[rocket::async_test]
async fn a_token_a_moment_past_its_expiry_is_forgiven_by_the_leeway() {
    let token = sign(&with(v2_claims(), json!({ "exp": now() - 2 })));
    assert!(verifier().verify(&token, SystemTime::now()).is_ok());
}

#[rocket::async_test]
async fn a_token_not_valid_yet_is_refused() {
    let token = sign(&with(v2_claims(), json!({ "nbf": now() + 30 })));
    assert_refused(&token, SessionError::NotYetValid).await;
}

#[rocket::async_test]
async fn a_token_issued_in_the_future_is_refused() {
    let token = sign(&with(v1_claims(), json!({ "iat": now() + 30 })));
    assert_refused(&token, SessionError::NotYetValid).await;
}

#[rocket::async_test]
async fn a_token_signed_by_another_instance_is_refused() {
    let token = sign_with(&v2_claims(), &keys().1.private_der);
    assert_refused(&token, SessionError::BadSignature).await;
}

#[rocket::async_test]
async fn a_token_minted_for_another_origin_is_refused() {
    let token = sign(&with(v1_claims(), json!({ "azp": "https://evil.example" })));
    assert_refused(&token, SessionError::UnauthorizedParty).await;
}

#[rocket::async_test]
async fn a_token_without_azp_passes_as_in_clerks_sdks() {
    let mut claims = v2_claims();
    claims.as_object_mut().unwrap().remove("azp");
    let (status, body) = get_with_bearer(&client().await, &sign(&claims)).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body["azp"], Value::Null);
}

#[rocket::async_test]
async fn a_tampered_payload_is_refused() {
    let token = sign(&v2_claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged =
        URL_SAFE_NO_PAD.encode(with(v2_claims(), json!({ "sub": "user_admin" })).to_string());
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert_refused(&tampered, SessionError::BadSignature).await;
}

#[rocket::async_test]
async fn an_unsigned_alg_none_token_is_refused() {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(v2_claims().to_string());
    assert_refused(&format!("{header}.{payload}."), SessionError::Malformed).await;
}

#[rocket::async_test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused() {
    // Algorithm confusion: the public key is public, so an HMAC "signed" with it proves nothing.
    let token = encode(
        &JwtHeader::new(Algorithm::HS256),
        &v2_claims(),
        &EncodingKey::from_secret(keys().0.public_pem.as_bytes()),
    )
    .unwrap();
    assert_refused(&token, SessionError::WrongAlgorithm).await;
}

#[rocket::async_test]
async fn a_pending_session_is_treated_as_signed_out() {
    let token = sign(&with(v2_claims(), json!({ "sts": "pending" })));
    let claims = verifier().verify(&token, SystemTime::now()).unwrap();
    assert!(claims.is_pending());
    let (status, _) = get_with_bearer(&client().await, &token).await;
    assert_eq!(status, Status::Unauthorized);
}

#[rocket::async_test]
async fn a_token_without_a_session_id_is_refused() {
    let mut claims = v2_claims();
    claims.as_object_mut().unwrap().remove("sid");
    assert_refused(&sign(&claims), SessionError::Malformed).await;
}

#[rocket::async_test]
async fn garbage_in_the_cookie_is_401_not_500() {
    let client = client().await;
    let response = client
        .get("/me")
        .cookie(Cookie::new("__session", "not.a.jwt"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn a_route_taking_the_guard_without_a_verifier_aborts_launch() {
    let rocket = rocket::build().mount("/", rocket::routes![me]);
    let Err(err) = Client::tracked(rocket).await else {
        panic!("launch should abort");
    };
    assert!(matches!(
        err.kind(),
        rocket::error::ErrorKind::SentinelAborts(_)
    ));
}

#[test]
fn the_key_and_origins_are_read_with_the_other_settings() {
    let pem_on_one_line = keys().0.public_pem.replace('\n', "\\n");
    let vars = [
        (SIGNING_SECRET_VAR, SECRET.to_owned()),
        (JWT_KEY_VAR, pem_on_one_line),
        (
            AUTHORIZED_PARTIES_VAR,
            " https://app.example.com/ , http://localhost:3000".to_owned(),
        ),
    ];
    let settings = Settings::from_lookup(|name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .unwrap();
    let verifier = settings.session.expect("a session verifier");
    assert_eq!(
        verifier.authorized_parties(),
        ["https://app.example.com", "http://localhost:3000"]
    );
    // No instance named: SignedIn reads any.
    assert_eq!(verifier.instance(), None);
    assert_eq!(verifier.scope(), Scope::default());
    assert!(verifier
        .verify(&sign(&v1_claims()), SystemTime::now())
        .is_ok());
    assert!(!format!("{verifier:?}").contains("MII"));
}

/// `Settings::from_lookup` over `vars`, with the signing secret and our key.
fn session_settings(vars: &[(&str, &str)]) -> Result<Settings, clerk_sync::config::ConfigError> {
    Settings::from_lookup(|name| match name {
        SIGNING_SECRET_VAR => Some(SECRET.to_owned()),
        JWT_KEY_VAR => Some(keys().0.public_pem.clone()),
        _ => vars
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned()),
    })
}

#[test]
fn the_instance_is_read_with_the_other_settings() {
    let settings = session_settings(&[(INSTANCE_ID_VAR, " ins_production ")]).unwrap();
    let verifier = settings.session.expect("a session verifier");
    assert_eq!(verifier.instance(), Some("ins_production"));
    assert_eq!(verifier.scope(), Scope::instance("ins_production"));
    assert!(format!("{verifier:?}").contains("ins_production"));
    // Blank counts as unset.
    let settings = session_settings(&[(INSTANCE_ID_VAR, "  ")]).unwrap();
    assert_eq!(settings.session.unwrap().instance(), None);
}

#[test]
fn an_instance_id_that_is_not_one_names_its_variable() {
    for value in ["production", "sk_live_abc", "ins_a ins_b"] {
        let err = session_settings(&[(INSTANCE_ID_VAR, value)]).unwrap_err();
        assert!(
            err.to_string().starts_with("CLERK_INSTANCE_ID is invalid"),
            "{value}: {err}"
        );
    }
}

#[test]
fn a_key_that_is_not_a_public_key_names_its_variable() {
    let err = Settings::from_lookup(|name| match name {
        SIGNING_SECRET_VAR => Some(SECRET.to_owned()),
        JWT_KEY_VAR => Some("sk_test_this_is_the_secret_key_not_the_jwt_key".to_owned()),
        _ => None,
    })
    .unwrap_err();
    assert!(
        err.to_string().starts_with("CLERK_JWT_KEY is invalid"),
        "{err}"
    );
}

#[sqlx::test(migrations = false)]
async fn the_stage_manages_the_session_verifier_of_its_settings(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let mut settings = settings(SECRET);
    settings.session = Some(verifier());
    let app_pool = clerk_sync::db::pool_options(&settings.database).connect_lazy_with(db.clone());
    let rocket = clerk_sync::rocket(app_pool, settings)
        .mount("/", rocket::routes![me])
        .register("/", session::catchers());
    let app = TestApp::launch(db, rocket).await;
    let (status, body) = get_with_bearer(&app.client, &sign(&v2_claims())).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body["user_id"], "user_2");
    let (status, _) = get_with_bearer(&app.client, "x.y.z").await;
    assert_eq!(status, Status::Unauthorized);
}

#[rocket::get("/signed-in")]
fn signed_in(signed_in: session::SignedIn) -> Json<Value> {
    Json(json!({
        "user_id": signed_in.user_id(),
        "synced": signed_in.user.is_some(),
        "instance": signed_in.user.as_ref().map(|user| user.instance_id.clone()),
        "last_name": signed_in.user.as_ref().map(|user| user.last_name.clone()),
        "member": signed_in.membership.is_some(),
    }))
}

/// A handler's own 503, not the guard's.
#[rocket::get("/maintenance")]
fn maintenance() -> Status {
    Status::ServiceUnavailable
}

const INSTANCE_A: &str = "ins_instance_a";
const INSTANCE_B: &str = "ins_instance_b";

/// `body` (an envelope) as sent by `instance`.
fn from_instance(instance: &str, body: String) -> String {
    let mut envelope: Value = serde_json::from_str(&body).unwrap();
    envelope["instance_id"] = json!(instance);
    envelope.to_string()
}

/// A token for `user_id` with `org` active (version 1 claims).
fn token_for(user_id: &str, org: &str) -> String {
    sign(&with(
        v1_claims(),
        json!({ "sub": user_id, "org_id": org, "org_role": "org:member" }),
    ))
}

async fn get_signed_in(client: &Client, token: &str) -> Value {
    let response = client
        .get("/signed-in")
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    response.into_json().await.expect("a JSON body")
}

#[sqlx::test(migrations = false)]
async fn signed_in_scoped_to_an_instance_reads_only_that_instances_rows(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let mut settings = settings(SECRET);
    settings.session = Some(verifier().with_instance(INSTANCE_A));
    let app_pool = clerk_sync::db::pool_options(&settings.database).connect_lazy_with(db.clone());
    let rocket = clerk_sync::rocket(app_pool, settings)
        .mount("/", rocket::routes![signed_in])
        .register("/", session::catchers());
    let app = TestApp::launch(db, rocket).await;
    // Instance A's user and organization, and instance B's, delivered by their webhooks.
    for (instance, user, org, last_name) in [
        (INSTANCE_A, "user_a", "org_a", "Alpha"),
        (INSTANCE_B, "user_b", "org_b", "Beta"),
    ] {
        for body in [
            user_event("user.created", user, 1, last_name),
            event("organization.created.json", json!({ "id": org }), None),
            event(
                "organizationMembership.created.json",
                json!({
                    "id": format!("orgmem_{user}"),
                    "organization": { "id": org },
                    "public_user_data": { "user_id": user },
                }),
                None,
            ),
        ] {
            expect_status(app.deliver(&from_instance(instance, body)).await, 200).await;
        }
    }
    assert_eq!(
        app.count("select count(*) from clerk.users where instance_id is not null")
            .await,
        2
    );

    // A's user, with their membership.
    let body = get_signed_in(&app.client, &token_for("user_a", "org_a")).await;
    assert_eq!(
        body,
        json!({ "user_id": "user_a", "synced": true, "instance": INSTANCE_A,
                "last_name": "Alpha", "member": true })
    );
    // B's user is not A's: no user and no membership, but still the claims (200).
    let body = get_signed_in(&app.client, &token_for("user_b", "org_b")).await;
    assert_eq!(
        body,
        json!({ "user_id": "user_b", "synced": false, "instance": null,
                "last_name": null, "member": false })
    );

    // Unscoped, on the same database: any instance's user.
    let rocket = rocket::build()
        .manage(verifier())
        .manage(clerk_sync::Store {
            pool: app.db.clone(),
        })
        .mount("/", rocket::routes![signed_in])
        .register("/", session::catchers());
    let unscoped = Client::tracked(rocket).await.expect("the app launches");
    for (user, org, instance, last_name) in [
        ("user_a", "org_a", INSTANCE_A, "Alpha"),
        ("user_b", "org_b", INSTANCE_B, "Beta"),
    ] {
        let body = get_signed_in(&unscoped, &token_for(user, org)).await;
        assert_eq!(
            body,
            json!({ "user_id": user, "synced": true, "instance": instance,
                    "last_name": last_name, "member": true })
        );
    }
}

/// The JSON body of a 5xx, checked to be JSON by its content type and its parse.
async fn json_error(response: rocket::local::asynchronous::LocalResponse<'_>) -> Value {
    assert_eq!(response.content_type(), Some(ContentType::JSON));
    let body = response.into_string().await.unwrap_or_default();
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

#[rocket::async_test]
async fn signed_in_answers_503_without_detail_when_the_database_is_down() {
    use std::time::Duration;
    // Nothing listens on port 1: every read fails to connect.
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .unwrap();
    let rocket = rocket::build()
        .manage(verifier())
        .manage(clerk_sync::Store { pool })
        .mount("/", rocket::routes![signed_in, maintenance])
        .register("/", session::catchers());
    let client = Client::tracked(rocket).await.expect("the app launches");
    let response = client
        .get("/signed-in")
        .header(Header::new(
            "Authorization",
            format!("Bearer {}", sign(&v1_claims())),
        ))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    // The library's JSON error, with nothing of the connection error in it.
    assert_eq!(
        json_error(response).await,
        json!({ "error": "database_unavailable",
                "message": "the database is unavailable; retry later" })
    );
    // A refused token is still the session guard's 401, before any read.
    let response = client.get("/signed-in").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    // A handler's own 503 is JSON too, without the guard's message.
    let response = client.get("/maintenance").dispatch().await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert_eq!(
        json_error(response).await,
        json!({ "error": "http_error", "message": "Service Unavailable" })
    );
}

#[sqlx::test(migrations = false)]
async fn signed_in_answers_json_when_a_table_is_gone_or_a_payload_is_unreadable(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let mut settings = settings(SECRET);
    settings.session = Some(verifier());
    let app_pool = clerk_sync::db::pool_options(&settings.database).connect_lazy_with(db.clone());
    let rocket = clerk_sync::rocket(app_pool, settings)
        .mount("/", rocket::routes![signed_in])
        .register("/", session::catchers());
    let app = TestApp::launch(db, rocket).await;
    expect_status(
        app.deliver(&user_event("user.created", "user_1", 1, "Alpha"))
            .await,
        200,
    )
    .await;
    let get = |token: String| {
        app.client
            .get("/signed-in")
            .header(Header::new("Authorization", format!("Bearer {token}")))
            .dispatch()
    };

    // The memberships table is gone: the membership read (the token names org_1) is a database
    // error, 503 with the library's JSON and nothing of the error.
    sqlx::query("drop table clerk.organization_memberships cascade")
        .execute(&app.db)
        .await
        .unwrap();
    let response = get(sign(&v1_claims())).await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    let body = json_error(response).await;
    assert_eq!(
        body,
        json!({ "error": "database_unavailable",
                "message": "the database is unavailable; retry later" })
    );

    // A stored payload that no longer fits its type (no organization in the token: the user is
    // the only read): 500, the library's JSON, no detail.
    sqlx::query("update clerk.users set data = '{\"id\": 5}' where id = 'user_1'")
        .execute(&app.db)
        .await
        .unwrap();
    let response = get(sign(&with(v1_claims(), json!({ "org_id": null })))).await;
    assert_eq!(response.status(), Status::InternalServerError);
    assert_eq!(
        json_error(response).await,
        json!({ "error": "internal_error", "message": "internal error" })
    );
}

#[rocket::async_test]
async fn a_route_taking_signed_in_without_the_sync_store_aborts_launch() {
    let rocket = rocket::build()
        .manage(verifier())
        .mount("/", rocket::routes![signed_in]);
    let Err(err) = Client::tracked(rocket).await else {
        panic!("launch should abort");
    };
    assert!(matches!(
        err.kind(),
        rocket::error::ErrorKind::SentinelAborts(_)
    ));
}
