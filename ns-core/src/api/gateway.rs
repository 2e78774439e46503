//! `GatewayService`: a tenant's gateways.
//!
//! Supported: Create (the tenant must allow gateways, `can_have_gateways`,
//! and have room under its `max_gateway_count`), Get, Update, Delete and
//! List (one tenant's, or every tenant's for global administrators; search
//! on name and gateway ID; ordered by name, gateway ID or last seen; each
//! item with its state: NEVER_SEEN, ONLINE if heard within twice its stats
//! interval, else OFFLINE, as ChirpStack computes it).
//!
//! A gateway's `metadata` is what the gateway reports about itself: it is
//! read-only here (Create starts it empty, Update keeps it). The tenant of
//! a gateway cannot change. `downlink_priority` and the location's `source`
//! and `accuracy` are not stored (they read back as zero).
//!
//! GetMetrics reads the frame counts of the gateway's statistics
//! ([`crate::metrics`]) per minute, hour, day or month between `start` and
//! `end` (at most [`metrics::MAX_BUCKETS`] buckets; a bucket without
//! statistics reads 0): received and sent, per frequency, per data rate of
//! the gateway's region, per TX status. GetDutyCycleMetrics reads the
//! duty-cycle load the gateway reports per band, per minute (the mean of a
//! minute's reports), in percent of its tracking window.
//!
//! Answered with UNIMPLEMENTED:
//! - GenerateClientCertificate: "gateway client certificates are not
//!   supported by this server yet";
//! - GetRelayGateway, ListRelayGateways, UpdateRelayGateway,
//!   DeleteRelayGateway: "relay gateways are not supported by this server
//!   yet";
//! - List with a `multicast_group_id`: "multicast groups are not supported
//!   by this server yet".
//!
//! Who may: every member of the gateway's tenant reads; tenant and gateway
//! administrators write.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use packet_forwarder::gw::common::{self, MetricKind};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::authz::{Action, Kind, Principal, Verb, allowed};
use super::proto::{self as api, gateway_service_server::GatewayService};
use super::service::{
    ApiState, Target, check_name, from_timestamp, parse_eui, parse_optional_uuid, parse_uuid,
    required, status, timestamp,
};
use crate::metrics::{self, Aggregation, Point, Series};
use crate::model::Gateway;
use crate::storage::{ListQuery, OrderBy};

/// The `GatewayService` over the API's state.
#[derive(Debug, Clone)]
pub struct GatewayApi(pub Arc<ApiState>);

fn location(g: &Gateway) -> common::Location {
    common::Location {
        latitude: g.latitude,
        longitude: g.longitude,
        altitude: f64::from(g.altitude),
        ..Default::default()
    }
}

fn to_proto(g: &Gateway) -> api::Gateway {
    api::Gateway {
        gateway_id: g.gateway_id.to_string(),
        name: g.name.clone(),
        description: g.description.clone(),
        location: Some(location(g)),
        tenant_id: g.tenant_id.to_string(),
        tags: g.tags.clone(),
        metadata: g.metadata.clone(),
        stats_interval: u32::try_from(g.stats_interval.as_secs()).unwrap_or(u32::MAX),
        downlink_priority: 0,
    }
}

/// The connection state of `g` at `now`: online if heard within twice its
/// stats interval.
fn state(g: &Gateway, now: SystemTime) -> api::GatewayState {
    match g.last_seen_at {
        None => api::GatewayState::NeverSeen,
        Some(seen) => {
            let age = now.duration_since(seen).unwrap_or(Duration::ZERO);
            if age > g.stats_interval.saturating_mul(2) {
                api::GatewayState::Offline
            } else {
                api::GatewayState::Online
            }
        }
    }
}

fn list_item(g: Gateway, now: SystemTime) -> api::GatewayListItem {
    api::GatewayListItem {
        tenant_id: g.tenant_id.to_string(),
        gateway_id: g.gateway_id.to_string(),
        location: Some(location(&g)),
        created_at: Some(timestamp(g.stamps.created_at)),
        updated_at: Some(timestamp(g.stamps.updated_at)),
        last_seen_at: g.last_seen_at.map(timestamp),
        state: state(&g, now).into(),
        downlink_priority: 0,
        name: g.name,
        description: g.description,
        properties: g.metadata,
    }
}

/// Checks a gateway's settings and copies them onto `gateway` (not its id,
/// tenant or metadata).
fn apply(gateway: &mut Gateway, g: api::Gateway) -> Result<(), Status> {
    check_name("gateway.name", &g.name)?;
    let loc = g.location.unwrap_or_default();
    gateway.name = g.name;
    gateway.description = g.description;
    gateway.latitude = loc.latitude;
    gateway.longitude = loc.longitude;
    // Stored as f32: metres, to the centimetre and beyond.
    gateway.altitude = loc.altitude as f32;
    gateway.tags = g.tags;
    gateway.stats_interval = Duration::from_secs(u64::from(g.stats_interval));
    Ok(())
}

impl GatewayApi {
    /// Authenticates the caller and authorizes `verb` on gateway
    /// `gateway_id` (the request field `field`).
    async fn gateway_access<T>(
        &self,
        request: &Request<T>,
        field: &str,
        gateway_id: &str,
        verb: Verb,
    ) -> Result<(Principal, lorawan::Eui64, Uuid), Status> {
        let s = &self.0;
        let who = s.principal(request).await?;
        let gateway_id = parse_eui(field, gateway_id)?;
        let tenant = s.tenant_of(&who, Target::Gateway(gateway_id)).await?;
        s.authorize(&who, Action::new(Kind::Gateway, verb, Some(tenant)))?;
        Ok((who, gateway_id, tenant))
    }
}

/// The `start` and `end` of a metrics request, both required.
fn range(
    start: Option<&pbjson_types::Timestamp>,
    end: Option<&pbjson_types::Timestamp>,
) -> Result<(SystemTime, SystemTime), Status> {
    let field = |name: &str, t: Option<&pbjson_types::Timestamp>| {
        let t = t.ok_or_else(|| Status::invalid_argument(format!("{name} is required")))?;
        from_timestamp(t)
            .ok_or_else(|| Status::invalid_argument(format!("{name} is not a valid timestamp")))
    };
    Ok((field("start", start)?, field("end", end)?))
}

fn range_error(e: metrics::RangeError) -> Status {
    Status::invalid_argument(e.to_string())
}

/// The datasets of the series named `{prefix}{label}`, labelled with
/// `{label}`, numbers (frequencies, data rates) in numeric order first.
fn family(series: &Series, prefix: &str) -> Vec<(String, String)> {
    let mut labels: Vec<&str> = series
        .values()
        .flat_map(|points| points.keys())
        .filter_map(|name| name.strip_prefix(prefix))
        .collect();
    labels.sort_by_key(|label| (label.parse::<u64>().map_err(|_| ()), *label));
    labels.dedup();
    labels
        .into_iter()
        .map(|label| (label.to_owned(), format!("{prefix}{label}")))
        .collect()
}

/// A `common.Metric` with a value per bucket (0 where nothing was stored)
/// for each `(label, series name)`: sums for absolute counts, means for
/// gauges.
fn metric(
    name: &str,
    kind: MetricKind,
    buckets: &[i64],
    series: &Series,
    datasets: Vec<(String, String)>,
) -> common::Metric {
    let read = |p: Point| match kind {
        MetricKind::Gauge => p.mean(),
        MetricKind::Absolute | MetricKind::Counter => p.sum,
    };
    common::Metric {
        name: name.to_owned(),
        timestamps: buckets
            .iter()
            .map(|&b| pbjson_types::Timestamp {
                seconds: b,
                nanos: 0,
            })
            .collect(),
        datasets: datasets
            .into_iter()
            .map(|(label, name)| common::MetricDataset {
                data: buckets
                    .iter()
                    .map(|b| {
                        series
                            .get(b)
                            .and_then(|points| points.get(&name))
                            .map_or(0.0, |p| read(*p) as f32)
                    })
                    .collect(),
                label,
            })
            .collect(),
        kind: kind.into(),
    }
}

#[tonic::async_trait]
impl GatewayService for GatewayApi {
    async fn create(
        &self,
        request: Request<api::CreateGatewayRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let g = required("gateway", request.into_inner().gateway)?;
        let tenant_id = parse_uuid("gateway.tenant_id", &g.tenant_id)?;
        let tenant_id = s.tenant_of(&who, Target::Tenant(tenant_id)).await?;
        s.authorize(
            &who,
            Action::new(Kind::Gateway, Verb::Create, Some(tenant_id)),
        )?;
        let gateway_id = parse_eui("gateway.gateway_id", &g.gateway_id)?;
        let mut gateway = Gateway::new(gateway_id, tenant_id, "");
        apply(&mut gateway, g)?;
        let tenant = s.storage.get_tenant(tenant_id).await.map_err(status)?;
        if !tenant.can_have_gateways {
            return Err(Status::failed_precondition(
                "the tenant may not have gateways (can_have_gateways is false)",
            ));
        }
        // The limit is counted in the insert's transaction: concurrent
        // creates cannot overshoot it.
        let created = if tenant.max_gateway_count > 0 {
            s.storage
                .create_gateway_within_limit(&gateway, tenant.max_gateway_count)
                .await
        } else {
            s.storage.create_gateway(&gateway).await
        };
        created.map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn get(
        &self,
        request: Request<api::GetGatewayRequest>,
    ) -> Result<Response<api::GetGatewayResponse>, Status> {
        let (_, gateway_id, _) = self
            .gateway_access(
                &request,
                "gateway_id",
                &request.get_ref().gateway_id,
                Verb::Read,
            )
            .await?;
        let g = self
            .0
            .storage
            .get_gateway(gateway_id)
            .await
            .map_err(status)?;
        Ok(Response::new(api::GetGatewayResponse {
            gateway: Some(to_proto(&g)),
            created_at: Some(timestamp(g.stamps.created_at)),
            updated_at: Some(timestamp(g.stamps.updated_at)),
            last_seen_at: g.last_seen_at.map(timestamp),
        }))
    }

    async fn update(
        &self,
        request: Request<api::UpdateGatewayRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let s = &self.0;
        let id = request
            .get_ref()
            .gateway
            .as_ref()
            .map(|g| g.gateway_id.clone())
            .unwrap_or_default();
        let (_, gateway_id, tenant) = self
            .gateway_access(&request, "gateway.gateway_id", &id, Verb::Update)
            .await?;
        let g = required("gateway", request.into_inner().gateway)?;
        if parse_optional_uuid("gateway.tenant_id", &g.tenant_id)?.is_some_and(|t| t != tenant) {
            return Err(s.invalid("gateway.tenant_id: a gateway cannot move to another tenant"));
        }
        let mut gateway = s.storage.get_gateway(gateway_id).await.map_err(status)?;
        apply(&mut gateway, g)?;
        gateway.stamps.touch();
        s.storage.update_gateway(&gateway).await.map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn delete(
        &self,
        request: Request<api::DeleteGatewayRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        let (_, gateway_id, _) = self
            .gateway_access(
                &request,
                "gateway_id",
                &request.get_ref().gateway_id,
                Verb::Delete,
            )
            .await?;
        self.0
            .storage
            .delete_gateway(gateway_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pbjson_types::Empty {}))
    }

    async fn list(
        &self,
        request: Request<api::ListGatewaysRequest>,
    ) -> Result<Response<api::ListGatewaysResponse>, Status> {
        let s = &self.0;
        let who = s.principal(&request).await?;
        let req = request.into_inner();
        if !req.multicast_group_id.is_empty() {
            return Err(Status::unimplemented(
                "multicast groups are not supported by this server yet",
            ));
        }
        let tenant = match parse_optional_uuid("tenant_id", &req.tenant_id)? {
            Some(id) => Some(s.tenant_of(&who, Target::Tenant(id)).await?),
            // Every tenant's gateways: for whoever may list them all.
            None if allowed(&who, Action::new(Kind::Gateway, Verb::List, None)) => None,
            // Listing every tenant's gateways is for global administrators.
            None => {
                return Err(Status::permission_denied(
                    "not permitted: listing the gateways of every tenant (give tenant_id)",
                ));
            }
        };
        s.authorize(&who, Action::new(Kind::Gateway, Verb::List, tenant))?;
        let order = match req.order_by() {
            api::list_gateways_request::OrderBy::Name => OrderBy::Name,
            api::list_gateways_request::OrderBy::GatewayId => OrderBy::Id,
            api::list_gateways_request::OrderBy::LastSeenAt => OrderBy::LastSeen,
        };
        let query = ListQuery::page(req.limit, req.offset)
            .search(req.search)
            .order_by(order, req.order_by_desc);
        let page = s
            .storage
            .list_gateways(tenant, &query)
            .await
            .map_err(status)?;
        let now = SystemTime::now();
        Ok(Response::new(api::ListGatewaysResponse {
            total_count: u32::try_from(page.total).unwrap_or(u32::MAX),
            result: page.items.into_iter().map(|g| list_item(g, now)).collect(),
        }))
    }

    async fn generate_client_certificate(
        &self,
        request: Request<api::GenerateGatewayClientCertificateRequest>,
    ) -> Result<Response<api::GenerateGatewayClientCertificateResponse>, Status> {
        self.0.principal(&request).await?;
        Err(Status::unimplemented(
            "gateway client certificates are not supported by this server yet",
        ))
    }

    async fn get_metrics(
        &self,
        request: Request<api::GetGatewayMetricsRequest>,
    ) -> Result<Response<api::GetGatewayMetricsResponse>, Status> {
        let r = request.get_ref();
        let (_, gateway_id, _) = self
            .gateway_access(&request, "gateway_id", &r.gateway_id, Verb::Read)
            .await?;
        let aggregation = Aggregation::from_i32(r.aggregation)
            .ok_or_else(|| Status::invalid_argument("aggregation is not a common.Aggregation"))?;
        let (start, end) = range(r.start.as_ref(), r.end.as_ref())?;
        let buckets = metrics::buckets(aggregation, start, end).map_err(range_error)?;
        let series = self
            .0
            .storage
            .metrics(&metrics::gateway_key(gateway_id), aggregation, start, end)
            .await
            .map_err(status)?;
        let m = |name: &str, datasets: Vec<(String, String)>| {
            metric(name, MetricKind::Absolute, &buckets, &series, datasets)
        };
        let one = |series: &str| vec![(series.to_owned(), series.to_owned())];
        Ok(Response::new(api::GetGatewayMetricsResponse {
            rx_packets: Some(m("Received", one("rx_count"))),
            tx_packets: Some(m("Transmitted", one("tx_count"))),
            tx_packets_per_freq: Some(m("Transmitted / frequency", family(&series, "tx_freq_"))),
            rx_packets_per_freq: Some(m("Received / frequency", family(&series, "rx_freq_"))),
            tx_packets_per_dr: Some(m("Transmitted / DR", family(&series, "tx_dr_"))),
            rx_packets_per_dr: Some(m("Received / DR", family(&series, "rx_dr_"))),
            tx_packets_per_status: Some(m("Transmitted / status", family(&series, "tx_status_"))),
        }))
    }

    async fn get_duty_cycle_metrics(
        &self,
        request: Request<api::GetGatewayDutyCycleMetricsRequest>,
    ) -> Result<Response<api::GetGatewayDutyCycleMetricsResponse>, Status> {
        let r = request.get_ref();
        let (_, gateway_id, _) = self
            .gateway_access(&request, "gateway_id", &r.gateway_id, Verb::Read)
            .await?;
        let (start, end) = range(r.start.as_ref(), r.end.as_ref())?;
        // Per minute, as ChirpStack keeps its duty-cycle metrics.
        let aggregation = Aggregation::Minute;
        let buckets = metrics::buckets(aggregation, start, end).map_err(range_error)?;
        let series = self
            .0
            .storage
            .metrics(
                &metrics::duty_cycle_key(gateway_id),
                aggregation,
                start,
                end,
            )
            .await
            .map_err(status)?;
        let m = |name: &str, prefix: &str| {
            metric(
                name,
                MetricKind::Gauge,
                &buckets,
                &series,
                family(&series, prefix),
            )
        };
        Ok(Response::new(api::GetGatewayDutyCycleMetricsResponse {
            max_load_percentage: Some(m("Max load percentage", "max_load_")),
            window_percentage: Some(m("Window percentage", "load_")),
        }))
    }

    async fn get_relay_gateway(
        &self,
        request: Request<api::GetRelayGatewayRequest>,
    ) -> Result<Response<api::GetRelayGatewayResponse>, Status> {
        self.0.principal(&request).await?;
        Err(relay_unsupported())
    }

    async fn list_relay_gateways(
        &self,
        request: Request<api::ListRelayGatewaysRequest>,
    ) -> Result<Response<api::ListRelayGatewaysResponse>, Status> {
        self.0.principal(&request).await?;
        Err(relay_unsupported())
    }

    async fn update_relay_gateway(
        &self,
        request: Request<api::UpdateRelayGatewayRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        self.0.principal(&request).await?;
        Err(relay_unsupported())
    }

    async fn delete_relay_gateway(
        &self,
        request: Request<api::DeleteRelayGatewayRequest>,
    ) -> Result<Response<pbjson_types::Empty>, Status> {
        self.0.principal(&request).await?;
        Err(relay_unsupported())
    }
}

fn relay_unsupported() -> Status {
    Status::unimplemented("relay gateways are not supported by this server yet")
}
