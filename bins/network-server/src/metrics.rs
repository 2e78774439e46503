//! `/metrics` (Prometheus text) and `/health`.
//!
//! `/health` answers 200 `OK` while the server runs; with `[redis]`
//! configured it also pings Redis: `OK` and `redis: ok` (200), or
//! `redis: …` saying what failed (503), as the instance then no longer
//! de-duplicates with the others.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State as AxumState;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use ns_core::gateway_backend::GatewayBackend;
use ns_core::integration::publish::{ApplicationHttpSink, MqttPublisher};
use ns_core::pipeline::PipelineCounters;
use ns_core::shared_state::SharedState;
use ns_core::udp_backend::UdpBackend;
use tokio::net::TcpListener;

use crate::Server;

/// What the endpoint reads.
#[derive(Clone)]
pub(crate) struct State {
    pipeline: Arc<PipelineCounters>,
    udp: Option<Arc<UdpBackend>>,
    gateways: Vec<Arc<GatewayBackend>>,
    mqtt: Option<Arc<MqttPublisher>>,
    app_http: Arc<ApplicationHttpSink>,
    api: Option<Arc<ns_core::api::ApiState>>,
    redis: Option<SharedState>,
}

impl State {
    pub(crate) fn new(server: &Server) -> Self {
        Self {
            pipeline: Arc::clone(server.pipeline.counters()),
            udp: server.udp.clone(),
            gateways: server.mqtt_gateways.clone(),
            mqtt: server.mqtt_integration.clone(),
            app_http: Arc::clone(&server.app_http),
            api: server.api.as_ref().map(|a| Arc::clone(a.state())),
            redis: server.pipeline.shared_state().cloned(),
        }
    }
}

pub(crate) async fn serve(listener: TcpListener, state: State) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(state);
    if let Err(error) = axum::serve(listener, app).await {
        tracing::error!(%error, "metrics endpoint stopped");
    }
}

/// How long `/health` waits for Redis's answer.
const REDIS_PING_TIMEOUT: Duration = Duration::from_secs(1);

async fn health(AxumState(state): AxumState<State>) -> (StatusCode, String) {
    let Some(redis) = &state.redis else {
        return (StatusCode::OK, "OK\n".into());
    };
    match tokio::time::timeout(REDIS_PING_TIMEOUT, redis.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "OK\nredis: ok\n".into()),
        Ok(Err(error)) => (StatusCode::SERVICE_UNAVAILABLE, format!("redis: {error}\n")),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("redis: no answer within {REDIS_PING_TIMEOUT:?}\n"),
        ),
    }
}

async fn metrics(AxumState(state): AxumState<State>) -> impl IntoResponse {
    let mut out = String::new();
    let mut last = "";
    for (name, labels, value) in state.pipeline.snapshot() {
        if name != last {
            let _ = writeln!(out, "# TYPE {name} counter");
            last = name;
        }
        write_sample(&mut out, name, &labels, value);
    }
    let (buckets, count, sum) = state.pipeline.uplink_latency.cumulative();
    let _ = writeln!(out, "# TYPE ns_uplink_latency_seconds histogram");
    for (le_ms, n) in buckets {
        let le = format!("{}", le_ms as f64 / 1000.0);
        write_sample(
            &mut out,
            "ns_uplink_latency_seconds_bucket",
            &[("le", le)],
            n,
        );
    }
    write_sample(
        &mut out,
        "ns_uplink_latency_seconds_bucket",
        &[("le", "+Inf".to_owned())],
        count,
    );
    let _ = writeln!(out, "ns_uplink_latency_seconds_sum {sum}");
    write_sample(&mut out, "ns_uplink_latency_seconds_count", &[], count);
    if let Some(udp) = &state.udp {
        let c = udp.counters();
        write_counters(
            &mut out,
            &[
                ("ns_udp_datagrams_received_total", c.datagrams_received),
                ("ns_udp_uplinks_total", c.uplinks),
                ("ns_udp_stats_total", c.stats),
                ("ns_udp_acks_total", c.acks),
                ("ns_udp_downlinks_sent_total", c.downlinks_sent),
                ("ns_udp_malformed_datagrams_total", c.malformed_datagrams),
                ("ns_udp_events_dropped_total", c.events_dropped),
                ("ns_udp_downlink_errors_total", c.downlink_errors),
            ],
        );
    }
    // Metric by metric, one sample per region's backend.
    let backends: Vec<_> = state
        .gateways
        .iter()
        .map(|b| {
            (
                [("topic_prefix", b.config().topic_prefix.clone())],
                b.counters(),
            )
        })
        .collect();
    type Read = fn(&ns_core::gateway_backend::GatewayBackendCounters) -> u64;
    let metrics: [(&str, Read); 8] = [
        ("ns_mqtt_gateway_up_total", |c| c.up_received),
        ("ns_mqtt_gateway_stats_total", |c| c.stats_received),
        ("ns_mqtt_gateway_ack_total", |c| c.ack_received),
        ("ns_mqtt_gateway_events_dropped_total", |c| c.events_dropped),
        ("ns_mqtt_gateway_malformed_total", |c| {
            c.malformed_topic + c.malformed_payload
        }),
        ("ns_mqtt_gateway_commands_sent_total", |c| c.commands_sent),
        ("ns_mqtt_gateway_commands_dropped_total", |c| {
            c.commands_dropped
        }),
        ("ns_mqtt_gateway_connection_errors_total", |c| {
            c.connection_errors
        }),
    ];
    if !backends.is_empty() {
        for (name, read) in metrics {
            let _ = writeln!(out, "# TYPE {name} counter");
            for (labels, counters) in &backends {
                write_sample(&mut out, name, labels, read(counters));
            }
        }
    }
    if let Some(api) = &state.api {
        let name = "ns_api_requests_total";
        let _ = writeln!(out, "# TYPE {name} counter");
        for (code, n) in api.counters.snapshot() {
            write_sample(&mut out, name, &[("code", code.to_owned())], n);
        }
    }
    if let Some(mqtt) = &state.mqtt {
        let c = mqtt.counters();
        write_counters(
            &mut out,
            &[
                ("ns_mqtt_integration_published_total", c.published),
                ("ns_mqtt_integration_dropped_total", c.dropped_queue_full),
                (
                    "ns_mqtt_integration_connection_errors_total",
                    c.connection_errors,
                ),
                (
                    "ns_mqtt_integration_commands_received_total",
                    c.commands_received,
                ),
            ],
        );
    }
    let c = state.app_http.counters();
    write_counters(
        &mut out,
        &[
            ("ns_app_http_integration_queued_total", c.queued),
            ("ns_app_http_integration_delivered_total", c.delivered),
            ("ns_app_http_integration_failed_total", c.failed),
            ("ns_app_http_integration_retried_total", c.retried),
            ("ns_app_http_integration_dropped_total", c.dropped),
            (
                "ns_app_http_integration_no_integration_total",
                c.no_integration,
            ),
            (
                "ns_app_http_integration_storage_errors_total",
                c.storage_errors,
            ),
            (
                "ns_app_http_integration_invalid_configs_total",
                c.invalid_configs,
            ),
        ],
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

/// Unlabelled counters, each with its `# TYPE` line.
fn write_counters(out: &mut String, counters: &[(&str, u64)]) {
    for &(name, value) in counters {
        let _ = writeln!(out, "# TYPE {name} counter");
        write_sample(out, name, &[], value);
    }
}

fn write_sample(out: &mut String, name: &str, labels: &[(&str, String)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let v = v.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = write!(out, "{k}=\"{v}\"");
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}
