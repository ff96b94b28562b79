//! Feature `otlp`: the standalone server exports a span per delivery and per batch commit over
//! OTLP HTTP/protobuf, to a receiver started here, flushes them when it is stopped, and sends
//! ids only, never the payload's personal data.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use rocket::tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use rocket::tokio::net::TcpListener;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::*;
use crate::logs::personal_values;

/// The bodies of the `POST /v1/traces` requests received.
type Received = Arc<Mutex<Vec<Vec<u8>>>>;

/// A minimal OTLP/HTTP receiver: answers every request 200 with an empty (valid) protobuf
/// response, and keeps the bodies sent to `/v1/traces`. Returns its port.
async fn start_receiver(received: Received) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    rocket::tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let received = received.clone();
            rocket::tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                // Keep-alive: several requests per connection.
                loop {
                    let mut request_line = String::new();
                    if stream.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        stream.read_line(&mut header).await.unwrap();
                        let header = header.trim_end().to_ascii_lowercase();
                        if header.is_empty() {
                            break;
                        }
                        if let Some(value) = header.strip_prefix("content-length:") {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    stream.read_exact(&mut body).await.unwrap();
                    if request_line.starts_with("POST /v1/traces ") {
                        received.lock().unwrap().push(body);
                    }
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                                  content-length: 0\r\n\r\n";
                    stream.get_mut().write_all(answer.as_bytes()).await.unwrap();
                }
            });
        }
    });
    port
}

/// A span's attributes, every value as text.
fn attributes(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(text)) => text.clone(),
                Some(AnyValue::IntValue(n)) => n.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

#[sqlx::test(migrations = false)]
async fn a_delivery_is_exported_as_a_delivery_span_and_a_batch_span_with_ids_only(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let received = Received::default();
    let receiver = start_receiver(received.clone()).await;
    let endpoint = format!("http://127.0.0.1:{receiver}");
    let url = database_url(&db).await;
    let mut server = Standalone::spawn_with(
        serve(),
        &url,
        None,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("CLERK_SYNC_LOG_FORMAT", "json"),
        ],
    );
    server.ready().await;

    let body = fixture("user.created.json");
    let mut personal = BTreeSet::new();
    personal_values(&serde_json::from_str(&body).unwrap(), &mut personal);
    assert!(personal.len() > 3, "{personal:?}");
    let object_id = clerk_sync::clerk::Envelope::parse(&body)
        .unwrap()
        .object_id()
        .unwrap();
    let svix_id = new_svix_id();
    let (status, _) = post_signed(server.port, &svix_id, &body).await.unwrap();
    assert_eq!(status, 200);

    // Stopped as an orchestrator stops it: the spans still buffered must be sent on the way out.
    server.signal("TERM");
    let (exit, output) = rocket::tokio::task::spawn_blocking(move || {
        let exit = server.child.wait().unwrap();
        (exit, server.output())
    })
    .await
    .unwrap();
    assert!(exit.success(), "{exit}:\n{output}");

    let bodies = received.lock().unwrap().clone();
    assert!(!bodies.is_empty(), "nothing exported:\n{output}");
    let mut spans: Vec<Span> = Vec::new();
    for body in &bodies {
        let request = ExportTraceServiceRequest::decode(body.as_slice()).unwrap();
        for resource in request.resource_spans {
            let resource_attributes =
                attributes(&resource.resource.map(|r| r.attributes).unwrap_or_default());
            assert_eq!(resource_attributes["service.name"], "clerk-sync");
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }
    let names: Vec<&str> = spans.iter().map(|span| span.name.as_str()).collect();
    let delivery = spans
        .iter()
        .find(|span| {
            span.name == "clerk_sync.delivery"
                && attributes(&span.attributes).get("svix_id") == Some(&svix_id)
        })
        .unwrap_or_else(|| panic!("no delivery span for {svix_id} in {names:?}"));
    let delivered = attributes(&delivery.attributes);
    assert_eq!(delivered["event_type"], "user.created", "{delivered:?}");
    assert_eq!(delivered["object_id"], object_id, "{delivered:?}");
    assert_eq!(delivered["outcome"], "applied", "{delivered:?}");
    assert_eq!(
        delivered["http.response.status_code"], "200",
        "{delivered:?}"
    );

    let batch = spans
        .iter()
        .find(|span| {
            span.name == "clerk_sync.batch"
                && attributes(&span.attributes)
                    .get("svix_ids")
                    .is_some_and(|ids| ids.split(',').any(|id| id == svix_id))
        })
        .unwrap_or_else(|| panic!("no batch span for {svix_id} in {names:?}"));
    let committed = attributes(&batch.attributes);
    assert_eq!(committed["size"], "1", "{committed:?}");
    assert_eq!(committed["attempts"], "1", "{committed:?}");
    assert_eq!(committed["outcomes"], "applied:1", "{committed:?}");
    // The batch follows from the delivery: a link to its span.
    assert!(
        batch
            .links
            .iter()
            .any(|link| link.span_id == delivery.span_id && link.trace_id == delivery.trace_id),
        "{:?}",
        batch.links
    );

    let leaked: Vec<&String> = personal
        .iter()
        .filter(|value| {
            bodies.iter().any(|body| {
                body.windows(value.len())
                    .any(|window| window == value.as_bytes())
            })
        })
        .collect();
    assert!(leaked.is_empty(), "personal data exported: {leaked:?}");
}
