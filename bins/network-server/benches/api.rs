//! The management API under load: device creation through gRPC (devices/s,
//! one client, then 16 concurrent clients) and `DeviceService/List` latency
//! with many devices in one application, on SQLite or PostgreSQL.
//!
//! ```text
//! cargo bench -p network-server --bench api -- --db sqlite
//! cargo bench -p network-server --bench api -- --db postgres
//! ```
//!
//! Options: `--db sqlite|postgres`, `--devices N` (devices in the
//! application when List is measured, default 100000), `--create N` (devices
//! created through the API for each creation rate, default 5000: N from one
//! client, then N more from 16 concurrent clients), `--clients N` (16),
//! `--reps N` (List calls per case, 20), `--json` (only the JSON summary),
//! `--keep` (leave the database in place and print its URL, to EXPLAIN the
//! queries afterwards), `--postgres URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, or `NS_CORE_TEST_POSTGRES`).
//!
//! The API is served in-process on 127.0.0.1:0 over a fresh database (a
//! temporary directory for SQLite, a schema of its own for PostgreSQL,
//! removed at the end), with the server's default pool sizes. The clients
//! are tonic gRPC clients over TCP, in the same process and runtime (the
//! machine's cores are shared by server, clients and, for SQLite, the
//! database). Tenant, application and device profile are created through
//! storage; after the measured creations, the application is filled up to N
//! devices through storage (set-up, not measured), 90% of them with a
//! `last_seen_at`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lorawan::Eui64;
use lorawan::region::{Region, Revision};
use ns_core::api::proto::{self as pb, device_service_client::DeviceServiceClient};
use ns_core::api::{ApiServer, ApiSettings, ApiState};
use ns_core::config::Config;
use ns_core::model::{Application, Device, DeviceProfile, MacVersion, Tenant, User};
use ns_core::storage::{Storage, StorageOptions};
use serde_json::json;
use sqlx::Connection;
use tonic::transport::Channel;
use uuid::Uuid;

const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The goal of a List page.
const LIST_GOAL_MS: f64 = 50.0;

#[derive(Debug, Clone)]
struct Args {
    db: String,
    devices: u64,
    create: u64,
    clients: u64,
    reps: usize,
    json: bool,
    keep: bool,
    postgres: String,
}

fn usage() -> ! {
    eprintln!(
        "usage: api [--db sqlite|postgres] [--devices N] [--create N] [--clients N] \
         [--reps N] [--json] [--keep] [--postgres URL]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        db: "sqlite".into(),
        devices: 100_000,
        create: 5_000,
        clients: 16,
        reps: 20,
        json: false,
        keep: false,
        postgres: std::env::var("NS_CORE_TEST_POSTGRES").unwrap_or_else(|_| POSTGRES_URL.into()),
    };
    // `cargo test --all-targets` runs this without `--bench`: a smoke run
    // that checks the bench works, not a measurement.
    if !std::env::args().any(|a| a == "--bench") {
        a.devices = 300;
        a.create = 50;
        a.clients = 4;
        a.reps = 2;
    }
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--db" => a.db = value(),
            "--devices" => a.devices = value().parse().unwrap_or_else(|_| usage()),
            "--create" => a.create = value().parse().unwrap_or_else(|_| usage()),
            "--clients" => a.clients = value().parse().unwrap_or_else(|_| usage()),
            "--reps" => a.reps = value().parse().unwrap_or_else(|_| usage()),
            "--postgres" => a.postgres = value(),
            "--json" => a.json = true,
            "--keep" => a.keep = true,
            // `cargo bench` passes `--bench` to harness-less benches.
            "--bench" => {}
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    if !matches!(a.db.as_str(), "sqlite" | "postgres") || a.clients == 0 || a.reps == 0 {
        usage();
    }
    a
}

/// A bijection of u64 (splitmix64's finalizer): unique, scattered DevEUIs
/// and names.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn eui(i: u64) -> Eui64 {
    Eui64::from_u64(mix(i))
}

fn name(i: u64) -> String {
    format!("sensor-{:08x}", mix(i ^ 0x5555_5555) as u32)
}

/// The database: where, and how to remove it.
struct Db {
    storage: Storage,
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(std::path::PathBuf),
    Schema(String, String),
}

async fn open_db(args: &Args, config: &Config) -> Db {
    if args.db == "sqlite" {
        let dir = std::env::temp_dir().join(format!("ns-api-bench-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/ns.sqlite?mode=rwc", dir.display());
        let options = StorageOptions::default().max_connections(config.sqlite.max_open_connections);
        let storage = Storage::connect_with(&url, &options).await.unwrap();
        Db {
            storage,
            url,
            cleanup: Cleanup::Dir(dir),
        }
    } else {
        let base = args.postgres.clone();
        let schema = format!("ns_bench_{}", Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={schema}");
        let options =
            StorageOptions::default().max_connections(config.postgresql.max_open_connections);
        let storage = Storage::connect_with(&url, &options).await.unwrap();
        Db {
            storage,
            url,
            cleanup: Cleanup::Schema(base, schema),
        }
    }
}

impl Db {
    async fn finish(self, keep: bool) {
        self.storage.close().await;
        if keep {
            eprintln!("kept: {}", self.url);
            return;
        }
        match self.cleanup {
            Cleanup::Dir(dir) => std::fs::remove_dir_all(dir).unwrap(),
            Cleanup::Schema(base, schema) => {
                let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&mut conn)
                .await
                .unwrap();
                conn.close().await.unwrap();
            }
        }
    }

    /// What autovacuum does to a table within a minute of a bulk load, so
    /// that the lists run on the database a running server has, not on the
    /// moment after the load: `VACUUM ANALYZE` on PostgreSQL (planner
    /// statistics, and the visibility map that lets index-only scans skip
    /// the table), nothing on SQLite (its server never runs `ANALYZE`, so
    /// neither does the benchmark).
    async fn analyze(&self) {
        if let Cleanup::Schema(..) = self.cleanup {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            // Two commands: VACUUM cannot share a query string.
            for sql in ["VACUUM ANALYZE device", "ANALYZE"] {
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
            }
            conn.close().await.unwrap();
        }
    }
}

fn req<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

async fn channel(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[derive(Clone)]
struct Fx {
    app: Uuid,
    profile: Uuid,
    token: Arc<str>,
}

fn create_request(fx: &Fx, i: u64) -> pb::CreateDeviceRequest {
    pb::CreateDeviceRequest {
        device: Some(pb::Device {
            dev_eui: eui(i).to_string(),
            name: name(i),
            description: String::new(),
            application_id: fx.app.to_string(),
            device_profile_id: fx.profile.to_string(),
            skip_fcnt_check: false,
            is_disabled: false,
            variables: Default::default(),
            tags: [("site".to_owned(), format!("s{}", i % 10))].into(),
            join_eui: String::new(),
        }),
    }
}

/// Latency quantiles of a set of samples, in ms.
#[derive(Debug, Clone, Copy)]
struct Stats {
    p50: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

fn stats(samples: &mut [Duration]) -> Stats {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let q = |p: f64| {
        let idx = ((samples.len() as f64) * p).ceil() as usize;
        ms(samples[idx.clamp(1, samples.len()) - 1])
    };
    Stats {
        p50: q(0.50),
        p99: q(0.99),
        max: ms(*samples.last().unwrap()),
        mean: samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64,
    }
}

struct Rate {
    devices: u64,
    clients: u64,
    secs: f64,
    latency: Stats,
}

impl Rate {
    fn per_sec(&self) -> f64 {
        self.devices as f64 / self.secs
    }
}

/// Creates devices `from..from + n` through the API over `clients`
/// connections of their own, each creating its share one after another.
async fn create_rate(addr: std::net::SocketAddr, fx: &Fx, from: u64, n: u64, clients: u64) -> Rate {
    let mut chans = Vec::new();
    for _ in 0..clients {
        chans.push(channel(addr).await);
    }
    // Warm each connection up with one call outside the timing (a Get of
    // a device that does not exist).
    for ch in &chans {
        let _ = DeviceServiceClient::new(ch.clone())
            .get(req(
                pb::GetDeviceRequest {
                    dev_eui: "ffffffffffffffff".into(),
                },
                &fx.token,
            ))
            .await;
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (c, ch) in chans.into_iter().enumerate() {
        let fx = fx.clone();
        let c = c as u64;
        tasks.push(tokio::spawn(async move {
            let mut client = DeviceServiceClient::new(ch);
            let mut lat = Vec::new();
            let mut i = from + c;
            while i < from + n {
                let t = Instant::now();
                client
                    .create(req(create_request(&fx, i), &fx.token))
                    .await
                    .unwrap_or_else(|e| panic!("create {i}: {e:?}"));
                lat.push(t.elapsed());
                i += clients;
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    Rate {
        devices: n,
        clients,
        secs,
        latency: stats(&mut lat),
    }
}

/// Stores devices `from..to` directly (set-up), `workers` inserts at a time.
async fn fill(storage: &Storage, fx: &Fx, from: u64, to: u64, workers: u64) -> f64 {
    let start = Instant::now();
    let now = SystemTime::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let storage = storage.clone();
        let fx = fx.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = from + w;
            while i < to {
                let mut d = Device::new(eui(i), fx.app, fx.profile, name(i));
                d.tags = [("site".to_owned(), format!("s{}", i % 10))].into();
                let m = mix(i ^ 0xaaaa);
                // 90% seen in the last 30 days, 10% never.
                if !m.is_multiple_of(10) {
                    d.last_seen_at = Some(now - Duration::from_secs((m >> 8) % (30 * 86_400)));
                }
                storage
                    .create_device(&d)
                    .await
                    .unwrap_or_else(|e| panic!("fill {i}: {e:?}"));
                i += workers;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed().as_secs_f64()
}

struct ListCase {
    order: &'static str,
    limit: u32,
    page: &'static str,
    offset: u32,
    search: &'static str,
    total: u32,
    items: usize,
    latency: Stats,
}

#[allow(clippy::too_many_arguments)] // one List case: its parameters, spelled out
async fn list_case(
    client: &mut DeviceServiceClient<Channel>,
    fx: &Fx,
    reps: usize,
    order: (&'static str, pb::list_devices_request::OrderBy),
    limit: u32,
    page: &'static str,
    offset: u32,
    search: &'static str,
) -> ListCase {
    let request = || pb::ListDevicesRequest {
        limit,
        offset,
        search: search.to_owned(),
        application_id: fx.app.to_string(),
        order_by: order.1.into(),
        ..Default::default()
    };
    // One call outside the timing: warms the caches the same way for every
    // case, and checks the page.
    let first = client
        .list(req(request(), &fx.token))
        .await
        .unwrap_or_else(|e| panic!("list: {e:?}"))
        .into_inner();
    let mut lat = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        let r = client
            .list(req(request(), &fx.token))
            .await
            .unwrap()
            .into_inner();
        lat.push(t.elapsed());
        assert_eq!(r.result.len(), first.result.len());
    }
    ListCase {
        order: order.0,
        limit,
        page,
        offset,
        search,
        total: first.total_count,
        items: first.result.len(),
        latency: stats(&mut lat),
    }
}

fn main() {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(args));
}

async fn run(args: Args) {
    let config = Config::default();
    let db = open_db(&args, &config).await;
    let storage = db.storage.clone();
    let mut settings = ApiSettings::new("api bench secret");
    // Not measured here: logins. Keep hashing cheap for the admin's set-up.
    settings.password_iterations = 10;
    let state = Arc::new(ApiState::new(
        storage.clone(),
        Arc::new(config.clone()),
        settings,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = ApiServer::start(listener, state.clone()).unwrap();
    let addr = server.local_addr();

    // An admin and its token; a tenant, an application, a profile.
    let mut admin = User::new(format!("admin-{}@example.com", Uuid::new_v4()));
    admin.is_admin = true;
    admin.password_hash = state.hasher.hash("admin");
    storage.create_user(&admin).await.unwrap();
    let token = state.signer.sign_user(
        admin.id,
        ns_core::api::service::unix_now(),
        Duration::from_secs(24 * 3600),
    );
    let tenant = Tenant::new("bench tenant");
    storage.create_tenant(&tenant).await.unwrap();
    let app = Application::new(tenant.id, "bench app");
    storage.create_application(&app).await.unwrap();
    let profile = DeviceProfile::new(
        tenant.id,
        "bench profile",
        Region::Eu868,
        MacVersion::V1_0_3,
        Revision::Rp002_1_0_3,
    );
    storage.create_device_profile(&profile).await.unwrap();
    let fx = Fx {
        app: app.id,
        profile: profile.id,
        token: token.into(),
    };

    let log = |s: String| {
        if !args.json {
            eprintln!("{s}");
        }
    };

    // Creation through the API.
    let create = args.create.min(args.devices / 2);
    log(format!(
        "creating {create} devices through the API, 1 client ..."
    ));
    let seq = create_rate(addr, &fx, 0, create, 1).await;
    log(format!(
        "creating {create} devices through the API, {} clients ...",
        args.clients
    ));
    let conc = create_rate(addr, &fx, create, create, args.clients).await;

    // Set-up: the rest through storage.
    log(format!(
        "filling up to {} devices through storage ...",
        args.devices
    ));
    let fill_secs = fill(&storage, &fx, 2 * create, args.devices, 16).await;
    log(format!("  filled in {fill_secs:.1} s"));
    db.analyze().await;

    // List.
    use pb::list_devices_request::OrderBy as O;
    let mut client = DeviceServiceClient::new(channel(addr).await);
    let n = u32::try_from(args.devices).unwrap();
    let mut cases = Vec::new();
    for order in [
        ("name", O::Name),
        ("last_seen_at", O::LastSeenAt),
        ("dev_eui", O::DevEui),
    ] {
        for limit in [10, 100] {
            for (page, offset) in [
                ("first", 0),
                ("middle", n / 2),
                ("last", n.saturating_sub(limit)),
            ] {
                log(format!("list by {} limit {limit} {page} page ...", order.0));
                cases.push(
                    list_case(&mut client, &fx, args.reps, order, limit, page, offset, "").await,
                );
            }
        }
    }
    // A search on names (and DevEUIs in hex): about 0.3% of the devices.
    for limit in [10, 100] {
        log(format!("list search limit {limit} ..."));
        cases.push(
            list_case(
                &mut client,
                &fx,
                args.reps,
                ("name", O::Name),
                limit,
                "first",
                0,
                "a5f",
            )
            .await,
        );
    }
    // Sanity: the devices are all there.
    assert_eq!(cases[0].total, n, "devices in the application");

    // Report.
    let backend = args.db.as_str();
    let over: Vec<&ListCase> = cases
        .iter()
        .filter(|c| c.latency.p50 > LIST_GOAL_MS)
        .collect();
    let create_json: Vec<serde_json::Value> = [&seq, &conc]
        .iter()
        .map(|r| {
            json!({
                "clients": r.clients,
                "devices": r.devices,
                "seconds": r.secs,
                "devices_per_s": r.per_sec(),
                "latency_ms": {"p50": r.latency.p50, "p99": r.latency.p99, "max": r.latency.max},
            })
        })
        .collect();
    let list_json: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            json!({
                "order_by": c.order,
                "limit": c.limit,
                "page": c.page,
                "offset": c.offset,
                "search": c.search,
                "total_count": c.total,
                "items": c.items,
                "latency_ms": {
                    "p50": c.latency.p50, "p99": c.latency.p99,
                    "max": c.latency.max, "mean": c.latency.mean,
                },
            })
        })
        .collect();
    let summary = json!({
        "backend": backend,
        "devices": args.devices,
        "reps": args.reps,
        "create": create_json,
        "fill_seconds": fill_secs,
        "list": list_json,
        "list_goal_ms": LIST_GOAL_MS,
        "list_cases_over_goal_p50": over.len(),
        "list_worst_p50_ms": cases.iter().map(|c| c.latency.p50).fold(0.0, f64::max),
    });
    if !args.json {
        println!();
        println!(
            "## Management API on {backend}: {} devices in one application",
            args.devices
        );
        println!();
        println!("| Create through the API | devices | s | devices/s | p50 ms | p99 ms | max ms |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for r in [&seq, &conc] {
            println!(
                "| {} client{} | {} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} |",
                r.clients,
                if r.clients == 1 { "" } else { "s" },
                r.devices,
                r.secs,
                r.per_sec(),
                r.latency.p50,
                r.latency.p99,
                r.latency.max
            );
        }
        println!();
        println!(
            "(set-up: {} devices stored directly in {fill_secs:.1} s)",
            args.devices.saturating_sub(2 * create)
        );
        println!();
        println!(
            "| List order_by | limit | page (offset) | search | total | items | p50 ms | p99 ms | max ms |"
        );
        println!("|---|---:|---|---|---:|---:|---:|---:|---:|");
        for c in &cases {
            println!(
                "| {} | {} | {} ({}) | {} | {} | {} | {:.2} | {:.2} | {:.2} |",
                c.order,
                c.limit,
                c.page,
                c.offset,
                if c.search.is_empty() {
                    "—".to_owned()
                } else {
                    format!("`{}`", c.search)
                },
                c.total,
                c.items,
                c.latency.p50,
                c.latency.p99,
                c.latency.max
            );
        }
        println!();
        println!(
            "{} of {} List cases over {LIST_GOAL_MS} ms (p50)",
            over.len(),
            cases.len()
        );
        println!();
    }
    println!("{}", serde_json::to_string(&summary).unwrap());

    drop(client);
    server.shutdown();
    db.finish(args.keep).await;
}
