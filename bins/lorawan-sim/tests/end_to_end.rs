//! The simulator against the network server, end to end: the all-in-one
//! `network-server` (in-process, random ports, a temporary data directory;
//! or Mosquitto and PostgreSQL), provisioned through its gRPC API with an
//! API key, 50 OTAA devices heard by two Semtech UDP gateways for a bounded
//! time, and the application's `up` events over MQTT.
//!
//! It checks that every device joins, that at least 99 % of the uplinks
//! become `up` events with the payload sent, and that the confirmed
//! uplinks are acknowledged.

use std::time::Duration;

use lorawan::Eui64;
use lorawan_sim::device::LorawanVersion;
use lorawan_sim::gateway::GatewayKind;
use lorawan_sim::provision::{self, ApiClient};
use lorawan_sim::radio::Position;
use lorawan_sim::scenario::Scenario;
use lorawan_sim::sim::{self, Settings, SimGateway};

mod support;
use support::Running;

const DEVICES: u64 = 50;

/// 50 OTAA devices through two gateways: Semtech UDP both, or (`mqtt`)
/// both publishing `gw` messages to the server's broker, so that every
/// join-accept and acknowledgement goes through the MQTT path.
async fn fifty_otaa_devices_through_two_gateways(external: bool, mqtt: bool) {
    let running = Running::start(external).await;
    let (udp, api) = (running.udp, running.api);
    let token = running.token.clone();

    // Provisioning through the API.
    let client = ApiClient::connect(&format!("http://{api}"), &token)
        .await
        .expect("the API answers");
    let origin = Position::new(52.37, 4.89, 0.0);
    let kind = if mqtt {
        GatewayKind::Mqtt
    } else {
        GatewayKind::SemtechUdp
    };
    let gateways = [
        (0x0016_c001_ff10_0001, -300.0),
        (0x0016_c001_ff10_0002, 300.0),
    ]
    .map(|(id, north)| SimGateway {
        kind,
        ..SimGateway::new(Eui64::from_u64(id), origin.offset(0.0, north))
    });
    let (plan, devices) = support::otaa_fleet(
        DEVICES,
        0x0102_0304_0000_0000,
        Eui64::from_u64(0x70b3_d57e_d000_0001),
        origin,
        &gateways,
    );
    let provisioned = provision::provision(&client, &plan)
        .await
        .expect("provisioning");
    assert_eq!(provisioned.devices_created, DEVICES as usize);

    let mut settings = Settings::new(udp, Duration::from_secs(20));
    settings.gateway_mqtt = Some(running.gateway_mqtt.clone());
    settings.keepalive = Duration::from_secs(1);
    settings.join_retry = Duration::from_secs(3);
    settings.start_spread = Duration::from_secs(2);
    let report = sim::run(devices, gateways.to_vec(), &settings, &running.progress)
        .await
        .expect("the simulation runs");
    // The last events.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let summary = report.summary();
    println!("{summary}");
    assert_eq!(report.joined, DEVICES as usize, "{summary}");
    assert_eq!(report.downlink_errors, 0, "{summary}");
    assert_eq!(report.forward_errors, 0, "{summary}");
    assert_eq!(report.uplinks_lost, 0, "{summary}");
    // The network answers every one of the devices' own requests.
    assert!(report.mac_requests >= DEVICES, "{summary}");
    assert_eq!(report.link_check_answers, report.mac_requests, "{summary}");
    assert_eq!(report.device_time_answers, report.mac_requests, "{summary}");
    support::assert_delivered(&report, &running.progress, 5 * DEVICES as usize);

    running.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_in_one_server_fifty_otaa_devices_two_udp_gateways() {
    fifty_otaa_devices_through_two_gateways(false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_and_postgresql_fifty_otaa_devices_two_udp_gateways() {
    fifty_otaa_devices_through_two_gateways(true, false).await;
}

/// Both gateways publishing `gw` messages to Mosquitto, as ChirpStack's
/// MQTT forwarder would: nothing goes through Semtech UDP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_and_postgresql_fifty_otaa_devices_two_mqtt_gateways() {
    fifty_otaa_devices_through_two_gateways(true, true).await;
}

/// An example scenario as a user runs it (provisioning from the scenario,
/// its devices, its events), against the all-in-one server, shortened:
/// twelve seconds, an uplink every three.
async fn example_runs(file: &str, count: usize, version: LorawanVersion) {
    let running = Running::start(false).await;
    let path = format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("the example");
    let text = text.replace("$SIM_API_KEY", &running.token);
    let mut scenario = Scenario::from_toml(&text).expect("the example parses");
    scenario.server.udp = running.udp;
    scenario.server.api = format!("http://{}", running.api);
    scenario.simulation.duration = Duration::from_secs(12);
    scenario.simulation.start_spread = Duration::from_secs(2);
    scenario.simulation.keepalive = Duration::from_secs(1);
    for group in &mut scenario.devices {
        group.uplink_interval = Duration::from_secs(3);
    }
    let client = ApiClient::connect(&scenario.server.api, &scenario.server.api_key)
        .await
        .expect("the API answers");
    let devices = scenario.devices().expect("devices");
    let plan = scenario.plan(&devices);
    assert_eq!(plan.profile.mac_version, version);
    provision::provision(&client, &plan)
        .await
        .expect("provisioning");
    let report = sim::run(
        devices,
        scenario.sim_gateways().expect("gateways"),
        &scenario.settings(),
        &running.progress,
    )
    .await
    .expect("the simulation runs");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let summary = report.summary();
    println!("{file}: {summary}");
    assert_eq!(report.joined, count, "{summary}");
    assert_eq!(report.downlink_errors, 0, "{summary}");
    let delivery = running.progress.delivery();
    assert!(delivery.sent >= 2 * count, "{summary}");
    assert!(delivery.ratio() >= 0.99, "{delivery:?}");
    let (confirmed, acked) = report.confirmed();
    assert!(confirmed > 0 && acked * 100 >= confirmed * 99, "{summary}");
    running.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lorawan_1_1_example_scenario_runs_against_the_all_in_one_server() {
    example_runs("lorawan-1-1-devices.toml", 20, LorawanVersion::V1_1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_abp_example_scenario_runs_against_the_all_in_one_server() {
    example_runs("abp-devices.toml", 10, LorawanVersion::V1_0_3).await;
}

/// Every example scenario parses and makes its devices and gateways.
#[test]
fn every_example_scenario_is_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("examples/") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let devices = scenario
            .devices()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!devices.is_empty(), "{}", path.display());
        assert!(
            !scenario.sim_gateways().unwrap().is_empty(),
            "{}",
            path.display()
        );
        assert_eq!(scenario.plan(&devices).devices.len(), devices.len());
        n += 1;
    }
    assert!(n >= 3, "{n} example scenarios");
}

/// The `lorawan-sim run` command, twice, with `--state`: the first run
/// provisions and joins, the second resumes the sessions (no join-request)
/// and its uplinks still reach the application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_command_resumes_sessions_from_its_state_file() {
    let running = Running::start(false).await;
    let broker = running.broker.expect("the embedded broker");
    let scenario = format!(
        r#"
        [server]
        udp = "{udp}"
        api = "http://{api}"
        api_key = "$SIM_TEST_KEY"
        mqtt = "{broker}"

        [simulation]
        duration = "8s"
        start_spread = "1s"
        keepalive = "1s"

        [[gateways]]
        id = "0016c001ff500001"
        latitude = 52.0
        longitude = 5.0

        [[devices]]
        count = 5
        dev_eui_start = "0102030800000000"
        join_eui = "70b3d57ed0000009"
        nwk_key = "0f0e0d0c0b0a09080706050403020100"
        uplink_interval = "2s"
        "#,
        udp = running.udp,
        api = running.api,
    );
    let state = running.dir.join("state.json");
    let state = state.to_str().expect("a UTF-8 path");
    let (first, json) = run_command(&running, &scenario, &["--state", state]).await;
    assert_eq!(json["joined"], 5, "{first}");
    assert_eq!(json["join_requests"], 5, "{first}");
    assert!(json["uplinks"].as_u64().unwrap() >= 5, "{first}");
    assert_eq!(json["delivered"], json["uplinks"], "{first}");
    let (second, json) = run_command(&running, &scenario, &["--state", state]).await;
    assert!(second.contains("resumed 5 devices"), "{second}");
    assert_eq!(json["join_requests"], 0, "{second}");
    assert_eq!(json["joined"], 5, "{second}");
    assert!(json["uplinks"].as_u64().unwrap() >= 10, "{second}");
    assert_eq!(json["delivered"], json["uplinks"], "{second}");
    running.finish().await;
}

/// A load run through the `run` command: 300 ABP devices paced at 50 and
/// then 100 uplinks a second (after a one-second climb; each device waits
/// out its receive windows, 2 s, between two uplinks), each step measured
/// by the `up` events that came back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_command_drives_a_load_sweep() {
    let running = Running::start(false).await;
    let broker = running.broker.expect("the embedded broker");
    let scenario = format!(
        r#"
        [server]
        udp = "{udp}"
        api = "http://{api}"
        api_key = "$SIM_TEST_KEY"
        mqtt = "{broker}"

        [simulation]
        start_spread = "100ms"
        keepalive = "1s"

        [load]
        rates = [50, 100]
        ramp_up = "1s"
        hold = "4s"
        settle = "3s"

        [[gateways]]
        id = "0016c001ff600001"
        latitude = 52.0
        longitude = 5.0

        [[gateways]]
        id = "0016c001ff600002"
        latitude = 52.001
        longitude = 5.0

        [[devices]]
        count = 300
        activation = "abp"
        dev_eui_start = "0102030900000000"
        dev_addr_start = "01900000"
        nwk_key = "0f0e0d0c0b0a09080706050403020100"
        "#,
        udp = running.udp,
        api = running.api,
    );
    // The server here is this test process.
    let pid = std::process::id().to_string();
    let (stdout, json) = run_command(&running, &scenario, &["--server-pid", &pid]).await;
    let steps = json["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2, "{stdout}");
    for (step, rate) in steps.iter().zip([50.0, 100.0]) {
        assert_eq!(step["rate"].as_f64(), Some(rate), "{step}");
        // Paced: about the rate asked for while it is held (1 s climb,
        // then 4 s: 1/2 + 4 seconds' worth in all).
        let achieved = step["achieved_rate"].as_f64().unwrap();
        assert!(achieved > rate * 0.8 && achieved < rate * 1.2, "{step}");
        let sent = step["sent"].as_f64().unwrap();
        assert!(sent > rate * 3.5, "{step}");
        assert_eq!(step["delivered"], step["sent"], "{step}");
        assert_eq!(step["missed"], 0, "{step}");
        assert!(
            step["server_cpu_us_per_uplink"].as_f64().unwrap() > 0.0,
            "{step}"
        );
    }
    running.finish().await;
}

/// A scenario with application downlinks, through the `run` command:
/// ABP class A devices get theirs after an uplink (every 2 s); every
/// downlink enqueued early enough reaches its device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_downlinks_reach_class_a_devices_after_their_uplinks() {
    let running = Running::start(false).await;
    let text = example(&running, "abp-devices.toml")
        .replace(
            "duration = \"1m\"",
            "duration = \"10s\"\nstart_spread = \"1s\"\nkeepalive = \"1s\"",
        )
        .replace("uplink_interval = \"10s\"", "uplink_interval = \"2s\"")
        .replace(
            "[names]",
            "[downlinks]\ninterval = \"3s\"\nf_port = 30\n\n[names]",
        );
    let (_, json) = run_command(&running, &text, &[]).await;
    let enqueued = json["downlinks_enqueued"].as_u64().unwrap();
    let delivered = json["downlinks_delivered"].as_u64().unwrap();
    // Ten devices, one downlink each every 3 s for 10 s: at least 20; those
    // enqueued in the last uplink interval may still be waiting.
    assert!(enqueued >= 20, "{json}");
    assert!(delivered + 10 >= enqueued && delivered >= 20, "{json}");
    // Class A: a downlink waits for the device's next uplink (2 s apart),
    // then RX1 (1 s).
    assert!(
        json["downlink_latency_p50_ms"].as_f64().unwrap() < 3_500.0,
        "{json}"
    );
    running.finish().await;
}

/// An example scenario with the addresses of `running`.
fn example(running: &Running, file: &str) -> String {
    let path = format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .expect("the example")
        .replace("127.0.0.1:1700", &running.udp.to_string())
        .replace("127.0.0.1:8080", &running.api.to_string())
        .replace(
            "127.0.0.1:1883",
            &running.broker.expect("the broker").to_string(),
        )
}

/// Runs `lorawan-sim run --json` with `args` on the scenario `text`
/// (`$SIM_API_KEY` or `$SIM_TEST_KEY` is the server's API key) and returns
/// its output and its last line's JSON.
async fn run_command(running: &Running, text: &str, args: &[&str]) -> (String, serde_json::Value) {
    let file = running
        .dir
        .join(format!("{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, text.replace("$SIM_API_KEY", "$SIM_TEST_KEY")).unwrap();
    let token = running.token.clone();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_lorawan-sim"))
            .args(["run", "--json"])
            .args(&args)
            .arg(&file)
            .env("SIM_TEST_KEY", &token)
            .output()
            .expect("lorawan-sim runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{stdout}");
    let json = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (stdout, json)
}

/// `examples/class-c-downlinks.toml` through the `run` command, shortened:
/// class C devices send one uplink (their interval is a minute) and get a
/// downlink every 6 s each (more than the server's 5 s class C lock), which
/// the server sends at once on RX2 instead of waiting for an uplink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_class_c_example_gets_its_downlinks_between_uplinks() {
    let running = Running::start(false).await;
    let text = example(&running, "class-c-downlinks.toml")
        .replace(
            "duration = \"2m\"",
            "duration = \"24s\"\nkeepalive = \"1s\"",
        )
        .replace("start_spread = \"5s\"", "start_spread = \"1s\"")
        .replace("interval = \"10s\"", "interval = \"6s\"");
    let (_, json) = run_command(&running, &text, &[]).await;
    // One uplink per device: every downlink came without one.
    assert_eq!(json["joined"], 5, "{json}");
    assert_eq!(json["uplinks"], 5, "{json}");
    let enqueued = json["downlinks_enqueued"].as_u64().unwrap();
    let delivered = json["downlinks_delivered"].as_u64().unwrap();
    // Five devices, one every 6 s each for the ~17 s after their joins.
    assert!(enqueued >= 10, "{json}");
    // All but those enqueued in the last second or two.
    assert!(delivered + 5 >= enqueued, "{json}");
    // Far less than an uplink interval (a minute): the server's locks (5 s
    // after an uplink, 5 s after a class C downlink) are the only waits.
    let p50 = json["downlink_latency_p50_ms"].as_f64().unwrap();
    assert!(p50 < 5_000.0, "{json}");
    running.finish().await;
}
