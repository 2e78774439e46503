//! The Prometheus endpoint (`[metrics.prometheus]`): `GET /metrics` in the
//! Prometheus text format (0.0.4, encoded by `prometheus-client`) and
//! `GET /health`, served by a tiny axum router.
//!
//! The counters stay plain integers owned by the driver loop (the server's
//! [`Counters`] and the [`BridgeCounters`]); the UDP path takes no lock and
//! touches no atomic for them. On each scrape the HTTP handler asks the
//! driver loop over a channel for a [`Snapshot`] (a copy of a few hundred
//! bytes) and encodes it, so the values are exact at scrape time. When the
//! loop does not answer within [`SCRAPE_TIMEOUT`] (it has stopped, or is
//! saturated), the scrape gets 503.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use packet_forwarder::semtech_udp::server::Counters;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use prometheus_client::registry::Unit;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::BridgeCounters;

/// Every metric name starts with this (and `_`).
pub const PREFIX: &str = "gateway_bridge";

/// How long a scrape waits for the driver loop.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// A scrape's request to the driver loop: where to send the snapshot.
pub(crate) type ScrapeRequest = oneshot::Sender<Snapshot>;

/// What `/metrics` shows, copied from the driver loop at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The Semtech UDP server's counters.
    pub server: Counters,
    /// The driver's own counters.
    pub bridge: BridgeCounters,
    /// Gateways connected now.
    pub gateways_connected: u64,
    /// Whether the MQTT connection is up.
    pub mqtt_connected: bool,
}

impl Snapshot {
    /// The Prometheus text (0.0.4) of this snapshot, every name prefixed with
    /// `gateway_bridge_`.
    pub fn encode(&self) -> String {
        self.encode_with_latency(None)
    }

    /// As [`Snapshot::encode`], with the MQTT publish latency histogram.
    fn encode_with_latency(&self, publish_latency: Option<&Histogram>) -> String {
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register_collector(Box::new(Collector(*self)));
        if let Some(histogram) = publish_latency {
            registry.register_with_unit(
                "mqtt_publish_latency",
                "Time from the bridge handing a PUBLISH to its MQTT client to the client writing it to the connection",
                Unit::Seconds,
                histogram.clone(),
            );
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut text, &registry);
        text
    }
}

#[derive(Debug)]
struct Collector(Snapshot);

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    ConstCounter::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> std::fmt::Result {
    ConstGauge::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn labelled_counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: &[(&str, u64)],
) -> std::fmt::Result {
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for &(label_value, value) in values {
        let labels = [(label, label_value)];
        ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let s = &self.0;
        let c = &s.server;
        let per_type = |p: &packet_forwarder::semtech_udp::server::PerIdentifier| {
            [
                ("PUSH_DATA", p.push_data),
                ("PUSH_ACK", p.push_ack),
                ("PULL_DATA", p.pull_data),
                ("PULL_RESP", p.pull_resp),
                ("PULL_ACK", p.pull_ack),
                ("TX_ACK", p.tx_ack),
            ]
        };
        labelled_counter(
            &mut e,
            "udp_received",
            "Semtech UDP datagrams received whose header could be read, by packet type",
            "packet_type",
            &per_type(&c.datagrams_in),
        )?;
        labelled_counter(
            &mut e,
            "udp_sent",
            "Semtech UDP datagrams sent, by packet type",
            "packet_type",
            &per_type(&c.datagrams_out),
        )?;
        let r = &c.errors;
        labelled_counter(
            &mut e,
            "udp_errors",
            "Semtech UDP datagrams rejected, by kind",
            "kind",
            &[
                ("truncated", r.truncated),
                ("unknown_version", r.unknown_version),
                ("unknown_identifier", r.unknown_identifier),
                ("trailing_bytes", r.trailing_bytes),
                ("json", r.json),
                ("other", r.other),
                ("unexpected_identifier", r.unexpected_identifier),
                ("unmatched_tx_ack", r.unmatched_tx_ack),
                ("too_many_gateways", r.too_many_gateways),
            ],
        )?;
        counter(&mut e, "rxpk", "rxpk objects received in PUSH_DATA", c.rxpk)?;
        counter(&mut e, "stat", "stat objects received in PUSH_DATA", c.stat)?;
        counter(
            &mut e,
            "gateway_connects",
            "Gateways that connected (ONLINE)",
            c.gateways_connected,
        )?;
        counter(
            &mut e,
            "gateway_disconnects",
            "Gateways that timed out (OFFLINE)",
            c.gateways_disconnected,
        )?;
        gauge(
            &mut e,
            "gateways_connected",
            "Gateways connected now",
            i64::try_from(s.gateways_connected).unwrap_or(i64::MAX),
        )?;
        let d = &c.downlinks;
        counter(
            &mut e,
            "downlinks",
            "Downlinks handed to the Semtech UDP server",
            d.requested,
        )?;
        labelled_counter(
            &mut e,
            "downlink_statuses",
            "Downlink outcomes reported in acks, by status",
            "status",
            &[
                ("accepted", d.accepted),
                ("accepted_with_warning", d.accepted_with_warning),
                ("rejected", d.rejected),
                ("timeout", d.timeout),
                ("unacknowledged", d.unacknowledged),
                ("gateway_not_connected", d.gateway_not_connected),
                ("token_in_use", d.token_in_use),
            ],
        )?;
        counter(
            &mut e,
            "downlink_acks",
            "Downlink acks published (one per downlink)",
            d.acks,
        )?;
        let b = &s.bridge;
        counter(
            &mut e,
            "uplinks_published",
            "Frames published on event/up",
            b.uplinks_published,
        )?;
        counter(
            &mut e,
            "uplinks_crc_filtered",
            "Frames not published because their CRC is bad or missing",
            b.uplinks_crc_filtered,
        )?;
        counter(
            &mut e,
            "mapping_errors",
            "rxpk or stat objects that could not be mapped to gw messages",
            b.mapping_errors,
        )?;
        counter(
            &mut e,
            "downlink_errors",
            "command/down payloads that could not be decoded or used",
            b.downlink_errors,
        )?;
        counter(
            &mut e,
            "commands_ignored",
            "MQTT commands the gateway's backend does not support",
            b.commands_ignored,
        )?;
        counter(
            &mut e,
            "station_connects",
            "Basics Station connections opened",
            b.station_connects,
        )?;
        counter(
            &mut e,
            "station_disconnects",
            "Basics Station connections closed",
            b.station_disconnects,
        )?;
        counter(
            &mut e,
            "station_messages_rejected",
            "Basics Station messages that could not be used",
            b.station_messages_rejected,
        )?;
        labelled_counter(
            &mut e,
            "station_refused",
            "Basics Station connections refused, by reason",
            "reason",
            &[
                ("tls", b.station_refused_tls),
                ("common_name", b.station_refused_common_name),
                ("bad_request", b.station_refused_bad_request),
            ],
        )?;
        labelled_counter(
            &mut e,
            "uplinks_filtered",
            "Frames dropped by [filters], by filter",
            "filter",
            &[
                ("dev_addr", b.uplinks_filtered_dev_addr),
                ("join_eui", b.uplinks_filtered_join_eui),
                ("net_id", b.uplinks_filtered_net_id),
            ],
        )?;
        counter(
            &mut e,
            "exec_requests",
            "command/exec requests",
            b.exec_requests,
        )?;
        counter(
            &mut e,
            "raw_events",
            "event/raw messages published",
            b.raw_events,
        )?;
        counter(
            &mut e,
            "mqtt_dropped",
            "MQTT requests dropped because the client's queue was full",
            b.mqtt_dropped,
        )?;
        gauge(
            &mut e,
            "mqtt_connected",
            "1 when the MQTT connection is up, else 0",
            i64::from(s.mqtt_connected),
        )
    }
}

/// What the `/metrics` handler needs.
#[derive(Clone)]
struct Endpoint {
    scrapes: mpsc::Sender<ScrapeRequest>,
    publish_latency: Histogram,
}

/// The router: `/metrics` and `/health`.
fn router(endpoint: Endpoint) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "OK\n" }))
        .with_state(endpoint)
}

async fn metrics(State(endpoint): State<Endpoint>) -> Response {
    let snapshot = async {
        let (tx, rx) = oneshot::channel();
        endpoint.scrapes.send(tx).await.ok()?;
        rx.await.ok()
    };
    match tokio::time::timeout(SCRAPE_TIMEOUT, snapshot).await {
        Ok(Some(snapshot)) => (
            [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
            snapshot.encode_with_latency(Some(&endpoint.publish_latency)),
        )
            .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the bridge loop did not answer\n",
        )
            .into_response(),
    }
}

/// Serves the router on `listener` until the task is aborted.
pub(crate) async fn serve(
    listener: TcpListener,
    scrapes: mpsc::Sender<ScrapeRequest>,
    publish_latency: Histogram,
) {
    let endpoint = Endpoint {
        scrapes,
        publish_latency,
    };
    if let Err(e) = axum::serve(listener, router(endpoint)).await {
        tracing::error!(error = %e, "metrics endpoint failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_encodes_as_prometheus_text() {
        let mut s = Snapshot::default();
        s.server.datagrams_in.pull_data = 3;
        s.server.errors.truncated = 2;
        s.bridge.mqtt_dropped = 7;
        s.bridge.station_refused_common_name = 4;
        s.gateways_connected = 1;
        s.mqtt_connected = true;
        let text = s.encode();
        for line in [
            "# HELP gateway_bridge_udp_received_total Semtech UDP datagrams received whose header could be read, by packet type",
            "# TYPE gateway_bridge_udp_received_total counter",
            "gateway_bridge_udp_received_total{packet_type=\"PULL_DATA\"} 3",
            "gateway_bridge_udp_received_total{packet_type=\"PUSH_DATA\"} 0",
            "gateway_bridge_udp_errors_total{kind=\"truncated\"} 2",
            "gateway_bridge_mqtt_dropped_total 7",
            "gateway_bridge_station_refused_total{reason=\"common_name\"} 4",
            "# TYPE gateway_bridge_gateways_connected gauge",
            "gateway_bridge_gateways_connected 1",
            "gateway_bridge_mqtt_connected 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
        assert!(!text.contains("# EOF"), "Prometheus text, not OpenMetrics");
    }

    #[test]
    fn publish_latency_is_a_histogram_in_seconds() {
        let histogram = crate::mqtt::publish_latency_histogram();
        histogram.observe(0.000_3);
        histogram.observe(0.002);
        let text = Snapshot::default().encode_with_latency(Some(&histogram));
        for line in [
            "# TYPE gateway_bridge_mqtt_publish_latency_seconds histogram",
            "gateway_bridge_mqtt_publish_latency_seconds_count 2",
            "gateway_bridge_mqtt_publish_latency_seconds_bucket{le=\"0.00025\"} 0",
            "gateway_bridge_mqtt_publish_latency_seconds_bucket{le=\"0.0005\"} 1",
            "gateway_bridge_mqtt_publish_latency_seconds_bucket{le=\"0.0025\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
    }
}
