//! The network server's configuration: defaults, ChirpStack's files read as
//! they are, merging, environment substitution, errors that name the key.

use std::path::PathBuf;
use std::time::Duration;

use lorawan::region::{Region, Revision};
use ns_core::config::{
    BUILTIN_REGION_IDS, Config, ConfigError, DEFAULT_CONFIG, Database, builtin_region,
};
use ns_core::integration::{DEFAULT_EVENT_TOPIC, Encoding};
use ns_core::join::RxWindowSelection;

/// ChirpStack's `chirpstack.toml` as the Docker setup writes it.
const CHIRPSTACK_TOML: &str = r#"
# Logging.
[logging]
  level="info"

# PostgreSQL configuration.
[postgresql]
  dsn="postgres://chirpstack:chirpstack@$POSTGRESQL_HOST/chirpstack?sslmode=disable"
  max_open_connections=10
  min_idle_connections=0

# Redis configuration.
[redis]
  servers=[
    "redis://$REDIS_HOST/",
  ]
  tls_enabled=false
  cluster=false

# Network related configuration.
[network]
  net_id="000013"
  dev_addr_prefixes=["26000000/7"]
  enabled_regions=[
    "eu868",
    "us915_1",
  ]
  deduplication_delay="150ms"
  get_downlink_data_delay="50ms"
  device_session_ttl="15d"
  mac_commands_disabled=false
  adr_plugins=[]

  [network.scheduler]
    interval="2s"
    class_a_lock_duration="3s"

# API interface configuration.
[api]
  bind="0.0.0.0:8080"
  secret="you-must-replace-this"

[gateway]
  allow_unknown_gateways=true
  client_cert_lifetime="90d"

[monitoring]
  bind="0.0.0.0:8070"
  backend_interfaces_log_max_history=10

[integration]
  enabled=["mqtt"]

  [integration.mqtt]
    server="tcp://$MQTT_BROKER_HOST:1883/"
    json=true
    qos=1
    keep_alive_interval="10s"

[codec.js]
  max_execution_time="100ms"

[join_server]
  resolve_join_eui=false
"#;

/// ChirpStack's `region_us915_1.toml` (abridged comments, every key).
const REGION_US915_1_TOML: &str = r#"
# This file contains an example US915 example (channels 8-15 + 65).
[[regions]]
  id="us915_1"
  description="US915 (channels 8-15 + 65)"
  common_name="US915"

  [regions.gateway]
    force_gws_private=true

    [regions.gateway.backend]
      enabled="mqtt"

      [regions.gateway.backend.mqtt]
        topic_prefix="us915_1"
        server="tcp://$MQTT_BROKER_HOST:1883"
        username="ns"
        password="$GW_PASSWORD"
        qos=0
        clean_session=false
        client_id=""
        keep_alive_interval="30s"
        share_name="chirpstack"
        ca_cert=""
        tls_cert=""
        tls_key=""

    [[regions.gateway.channels]]
      frequency=903900000
      bandwidth=125000
      modulation="LORA"
      spreading_factors=[7, 8, 9, 10]

    [[regions.gateway.channels]]
      frequency=904600000
      bandwidth=500000
      modulation="LORA"
      spreading_factors=[8]

  [regions.network]
    installation_margin=10
    rx_window=0
    rx1_delay=1
    rx1_dr_offset=0
    rx2_dr=8
    rx2_frequency=923300000
    rx2_prefer_on_rx1_dr_lt=0
    rx2_prefer_on_link_budget=false
    downlink_tx_power=-1
    adr_disabled=false
    min_dr=0
    max_dr=3
    enabled_uplink_channels=[8, 9, 10, 11, 12, 13, 14, 15, 65]

    [regions.network.rejoin_request]
      enabled=false
      max_count_n=0
      max_time_n=0

    [regions.network.class_b]
      ping_slot_dr=8
      ping_slot_frequency=0
"#;

fn env(name: &str) -> Option<String> {
    match name {
        "POSTGRESQL_HOST" => Some("db".into()),
        "REDIS_HOST" => Some("cache".into()),
        "MQTT_BROKER_HOST" => Some("broker".into()),
        "GW_PASSWORD" => Some("s3cret".into()),
        _ => None,
    }
}

fn load(texts: &[&str]) -> Config {
    Config::from_toml_strs_with_env(texts, env).unwrap()
}

/// The error of loading `texts` as the binary prints it: the message,
/// then each cause.
fn error(texts: &[&str]) -> String {
    report(&Config::from_toml_strs_with_env(texts, env).unwrap_err())
}

/// `error` and its sources, joined by `": "` (anyhow's `{:#}`).
fn report(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// A fresh directory under the system's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ns-core-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn documented_defaults_parse_to_the_defaults() {
    assert_eq!(load(&[DEFAULT_CONFIG]), Config::default());
    assert_eq!(load(&[]), Config::default());
    assert_eq!(Config::load(&[] as &[PathBuf]).unwrap(), Config::default());
}

#[test]
fn defaults_are_the_all_in_one_server() {
    let config = Config::default();
    assert_eq!(
        config.database("/var/lib/ns".as_ref()),
        Database::Sqlite("sqlite:///var/lib/ns/network-server.sqlite?mode=rwc".into())
    );
    let net = &config.network;
    assert_eq!(net.net_id.to_u32(), 0);
    assert_eq!(net.enabled_regions, ["eu868"]);
    assert_eq!(net.deduplication_delay, Duration::from_millis(200));
    assert_eq!(net.get_downlink_data_delay, Duration::from_millis(100));
    assert!(!net.mac_commands_disabled);
    assert_eq!(net.scheduler.interval, Duration::from_secs(1));
    assert_eq!(config.api.bind, "0.0.0.0:8080");
    assert_eq!(config.monitoring.bind, "127.0.0.1:8070");
    assert_eq!(config.mqtt_broker.bind, "127.0.0.1:1883");
    assert!(!config.gateway.allow_unknown_gateways);
    assert_eq!(config.backend.semtech_udp.bind, "0.0.0.0:1700");
    assert!(config.integration.is_enabled("mqtt"));
    let mqtt = &config.integration.mqtt;
    assert_eq!(mqtt.server, "tcp://127.0.0.1:1883");
    assert_eq!(mqtt.event_topic, DEFAULT_EVENT_TOPIC);
    assert_eq!(mqtt.encoding(), Encoding::Json);

    let eu = config.semtech_udp_region().unwrap();
    assert_eq!(eu.id, "eu868");
    assert_eq!(eu.topic_prefix(), "eu868");
    assert_eq!(eu.gateway.backend.mqtt.server, "tcp://127.0.0.1:1883");
    let networks = config.networks().unwrap();
    assert_eq!(networks.len(), 1);
    // The three default channels and ChirpStack's five 867 MHz ones.
    assert_eq!(networks[0].uplink_channels.len(), 8);
    assert_eq!((networks[0].min_dr, networks[0].max_dr), (0, 5));
    assert_eq!(networks[0].rx2_frequency, 869_525_000);

    assert_eq!(
        config.dedup_config().deduplication_delay,
        Duration::from_millis(200)
    );
    assert_eq!(config.mac_config().max_error_count, 1);
}

#[test]
fn chirpstack_files_are_read_as_they_are() {
    let config = load(&[CHIRPSTACK_TOML, REGION_US915_1_TOML]);
    assert_eq!(
        config.database("/data".as_ref()),
        Database::Postgresql(
            "postgres://chirpstack:chirpstack@db/chirpstack?sslmode=disable".into()
        )
    );
    assert_eq!(config.redis.servers, ["redis://cache/"]);
    let net = &config.network;
    assert_eq!(net.net_id.to_string(), "000013");
    assert_eq!(net.dev_addr_prefixes[0].to_string(), "26000000/7");
    assert_eq!(net.deduplication_delay, Duration::from_millis(150));
    assert_eq!(net.get_downlink_data_delay, Duration::from_millis(50));
    assert_eq!(net.device_session_ttl, Duration::from_secs(15 * 86_400));
    assert_eq!(net.scheduler.interval, Duration::from_secs(2));
    assert_eq!(net.scheduler.batch_size, 100);
    assert_eq!(config.api.secret, "you-must-replace-this");
    assert!(config.gateway.allow_unknown_gateways);
    assert_eq!(config.monitoring.bind, "0.0.0.0:8070");
    let mqtt = &config.integration.mqtt;
    assert_eq!(mqtt.server, "tcp://broker:1883/");
    assert_eq!(mqtt.qos, 1);
    assert_eq!(mqtt.keep_alive_interval, Duration::from_secs(10));

    // eu868 is built in; us915_1 comes from its file.
    let ids: Vec<&str> = config.enabled_regions().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["eu868", "us915_1"]);
    let us = config.region("us915_1").unwrap();
    assert_eq!(us.common_name, Some(Region::Us915));
    assert!(us.gateway.force_gws_private);
    let gw = &us.gateway.backend.mqtt;
    assert_eq!(gw.server, "tcp://broker:1883");
    assert_eq!(
        (gw.username.as_str(), gw.password.as_str()),
        ("ns", "s3cret")
    );
    assert_eq!(gw.share_name, "chirpstack");
    assert_eq!(us.topic_prefix(), "us915_1");
    assert_eq!(us.gateway.channels.len(), 2);
    assert_eq!(us.gateway.channels[1].bandwidth, 500_000);
    assert_eq!(us.network.class_b.ping_slot_dr, Some(8));

    let network = us.network().unwrap();
    let channels: Vec<usize> = network.uplink_channels.iter().map(|(i, _)| *i).collect();
    assert_eq!(channels, [8, 9, 10, 11, 12, 13, 14, 15, 65]);
    assert_eq!((network.rx2_dr, network.rx2_frequency), (8, 923_300_000));
    assert_eq!((network.min_dr, network.max_dr), (0, 3));
    // The same as the built-in us915_1.
    assert_eq!(
        network.uplink_channels,
        builtin_region("us915_1")
            .unwrap()
            .network()
            .unwrap()
            .uplink_channels
    );
}

#[test]
fn tcp_nodelay_is_on_by_default_and_read_per_mqtt_client() {
    let defaults = load(&[]);
    assert!(defaults.integration.mqtt.tcp_nodelay);
    let eu = defaults.region("eu868").unwrap();
    assert!(eu.gateway.backend.mqtt.tcp_nodelay);
    assert!(eu.gateway_backend_config().unwrap().tcp_nodelay);

    let config = load(&[r#"
        [network]
        enabled_regions = ["eu868", "us915_1"]
        [integration.mqtt]
        tcp_nodelay = false
        [[regions]]
        id = "us915_1"
        [regions.gateway.backend.mqtt]
        tcp_nodelay = false
    "#]);
    assert!(!config.integration.mqtt.tcp_nodelay);
    let us = config.region("us915_1").unwrap();
    assert!(!us.gateway.backend.mqtt.tcp_nodelay);
    assert!(!us.gateway_backend_config().unwrap().tcp_nodelay);
    // Per region: eu868 keeps the default.
    let eu = config.region("eu868").unwrap();
    assert!(eu.gateway_backend_config().unwrap().tcp_nodelay);

    assert!(error(&["[integration.mqtt]\ntcp_nodelay = \"yes\""]).contains("tcp_nodelay"));
}

#[test]
fn a_configuration_directory_is_read_like_chirpstacks() {
    let dir = temp_dir("dir");
    std::fs::write(dir.join("chirpstack.toml"), CHIRPSTACK_TOML).unwrap();
    std::fs::write(dir.join("region_us915_1.toml"), REGION_US915_1_TOML).unwrap();
    std::fs::write(dir.join("notes.txt"), "not toml").unwrap();
    let extra = dir.join("override.conf");
    std::fs::write(&extra, "[api]\nbind = \"127.0.0.1:9090\"").unwrap();
    let config = Config::load(&[dir.clone(), extra]).unwrap();
    assert!(config.region("us915_1").is_some());
    assert_eq!(config.api.bind, "127.0.0.1:9090");
    assert_eq!(config.network.net_id.to_string(), "000013");

    let missing = dir.join("missing.toml");
    let err = Config::load(&[missing]).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.toml"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn each_cause_is_reported_once() {
    let dir = temp_dir("causes");
    let missing_ca = dir.join("missing-ca.pem");
    let errors = [
        Config::load(&[dir.join("missing.toml")]).unwrap_err(),
        Config::from_toml_strs(&["[network\n"]).unwrap_err(),
        Config::from_toml_strs(&["[network]\ndeduplication_delay = \"soon\""]).unwrap_err(),
        Config::from_toml_strs(&[
            "[[regions]]\nid = \"eu868\"\n[regions.network]\nrx2_frequency = 915000000",
        ])
        .unwrap_err(),
        Config::from_toml_strs(&[&format!(
            "[[regions]]\nid = \"eu868\"\n[regions.gateway.backend.mqtt]\n\
             server = \"ssl://broker\"\nca_cert = \"{}\"",
            missing_ca.display()
        )])
        .and_then(|config| config.region("eu868").unwrap().gateway_backend_config())
        .map(|_| ())
        .unwrap_err(),
    ];
    for error in errors {
        let cause = std::error::Error::source(&error)
            .unwrap_or_else(|| panic!("{error:?} has no source"))
            .to_string();
        assert!(
            !error.to_string().contains(&cause),
            "the message repeats its source: {error}"
        );
        assert_eq!(report(&error).matches(&cause).count(), 1, "{error:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn later_files_win_key_by_key() {
    let config = load(&[
        "[integration.mqtt]\nusername = \"a\"\npassword = \"p\"\n[network]\nnet_id = \"000001\"",
        "[integration.mqtt]\nusername = \"b\"",
    ]);
    let mqtt = &config.integration.mqtt;
    assert_eq!((mqtt.username.as_str(), mqtt.password.as_str()), ("b", "p"));
    assert_eq!(config.network.net_id.to_u32(), 1);
}

#[test]
fn region_entries_merge_by_id_across_files() {
    let config = load(&[
        REGION_US915_1_TOML,
        "[network]\nenabled_regions = [\"us915_1\"]",
        "[[regions]]\nid = \"us915_1\"\n[regions.network]\nrx2_prefer_on_link_budget = true",
    ]);
    let us = config.region("us915_1").unwrap();
    assert!(us.network.rx2_prefer_on_link_budget);
    assert_eq!(us.gateway.backend.mqtt.share_name, "chirpstack");
    assert_eq!(config.regions.len(), 1);
}

#[test]
fn an_entry_without_common_name_amends_the_built_in() {
    let config = load(&[r#"
        [network]
        enabled_regions = ["eu868", "us915_0"]
        [[regions]]
        id = "eu868"
        [regions.gateway.backend.mqtt]
        server = "ssl://broker:8883"
        [regions.network]
        rx2_dr = 3
        rx2_frequency = 869525000
    "#]);
    let eu = config.region("eu868").unwrap();
    assert_eq!(eu.common_name, Some(Region::Eu868));
    assert_eq!(eu.gateway.backend.mqtt.server, "ssl://broker:8883");
    let network = eu.network().unwrap();
    assert_eq!(network.rx2_dr, 3);
    assert_eq!(network.extra_channels.len(), 5);
    assert_eq!(
        config.region("us915_0").unwrap().description,
        "US915 (channels 0-7 + 64)"
    );
}

#[test]
fn an_entry_with_common_name_replaces_the_built_in() {
    let config = load(&[r#"
        [[regions]]
        id = "eu868"
        common_name = "EU868"
        [regions.gateway.backend.mqtt]
        topic_prefix = ""
    "#]);
    let eu = config.region("eu868").unwrap();
    assert_eq!(eu.topic_prefix(), "");
    assert_eq!(eu.network().unwrap().uplink_channels.len(), 3);
}

#[test]
fn a_custom_region_id_is_served() {
    let config = load(&[r#"
        [network]
        enabled_regions = ["eu868_1ch"]
        [[regions]]
        id = "eu868_1ch"
        common_name = "EU868"
        [regions.network]
        enabled_uplink_channels = [0]
    "#]);
    let region = config.semtech_udp_region().unwrap();
    assert_eq!(region.id, "eu868_1ch");
    assert_eq!(region.topic_prefix(), "eu868_1ch");
    assert_eq!(config.networks().unwrap()[0].uplink_channels.len(), 1);
}

#[test]
fn a_legacy_event_topic_gives_the_prefix() {
    let config = load(&[r#"
        [[regions]]
        id = "eu868"
        common_name = "EU868"
        [regions.gateway.backend.mqtt]
        event_topic = "europe/gateway/+/event/+"
        command_topic = "europe/gateway/{{ gateway_id }}/command/{{ command }}"
    "#]);
    assert_eq!(config.region("eu868").unwrap().topic_prefix(), "europe");
}

#[test]
fn environment_variables_are_substituted() {
    let config = load(&[
        "[api]\nsecret = \"$GW_PASSWORD\"\nbind = \"${MQTT_BROKER_HOST}:80\"\n[integration.mqtt]\npassword = \"$UNSET_VARIABLE\"",
    ]);
    assert_eq!(config.api.secret, "s3cret");
    assert_eq!(config.api.bind, "broker:80");
    assert_eq!(config.integration.mqtt.password, "$UNSET_VARIABLE");
}

#[test]
fn sqlite_paths_become_urls_and_postgresql_wins() {
    let config = load(&["[sqlite]\npath = \"{data_dir}/ns.db\""]);
    assert_eq!(
        config.database("/srv/".as_ref()),
        Database::Sqlite("sqlite:///srv/ns.db?mode=rwc".into())
    );
    let config =
        load(&["[sqlite]\npath = \"sqlite://ns.db\"\n[postgresql]\ndsn = \"postgresql://u@h/d\""]);
    let db = config.database("/srv".as_ref());
    assert_eq!(db, Database::Postgresql("postgresql://u@h/d".into()));
    assert_eq!(db.url(), "postgresql://u@h/d");
}

#[test]
fn region_settings_become_the_sans_io_settings() {
    let config = load(&[r#"
        [network]
        enabled_regions = ["us915_1"]
        max_mac_command_error_count = 3
        [[regions]]
        id = "us915_1"
        [regions.network]
        rx_window = 2
        rx2_prefer_on_rx1_dr_lt = 2
        gateway_prefer_min_margin = 6
        downlink_tx_power = 20
        adr_disabled = true
    "#]);
    let us = config.region("us915_1").unwrap();
    let dl = us.downlink_settings();
    assert_eq!(dl.rx_window, RxWindowSelection::Rx2);
    assert_eq!(dl.rx2_prefer_on_rx1_dr_lt, 2);
    assert_eq!(dl.gateway_prefer_min_margin, 6.0);
    assert_eq!(dl.downlink_tx_power, Some(20));
    assert!(dl.adr_disabled);
    let join = us.join_options();
    assert_eq!(join.rx_window, RxWindowSelection::Rx2);
    assert_eq!(join.downlink_tx_power, Some(20));
    assert_eq!(config.mac_config().max_error_count, 3);
    // downlink_tx_power = -1 (the default): the region's.
    let eu = builtin_region("eu868").unwrap();
    assert_eq!(eu.downlink_settings().downlink_tx_power, None);
    assert_eq!(eu.join_options().rx_window, RxWindowSelection::Both);
}

#[test]
fn every_built_in_region_builds_a_valid_network() {
    for id in BUILTIN_REGION_IDS {
        let entry = builtin_region(id).unwrap_or_else(|| panic!("{id}"));
        assert_eq!(entry.id, id);
        assert_eq!(entry.topic_prefix(), id);
        let network = entry.network().unwrap_or_else(|e| panic!("{id}: {e}"));
        assert!(!network.uplink_channels.is_empty(), "{id}");
        assert!(network.min_dr <= network.max_dr, "{id}");
        // Enabled on its own, without a region file.
        let config = load(&[&format!("[network]\nenabled_regions = [\"{id}\"]")]);
        assert_eq!(config.networks().unwrap(), [network], "{id}");
    }
    // All at once (distinct topic prefixes).
    let all = BUILTIN_REGION_IDS
        .iter()
        .map(|id| format!("\"{id}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let config = load(&[&format!("[network]\nenabled_regions = [{all}]")]);
    assert_eq!(config.networks().unwrap().len(), BUILTIN_REGION_IDS.len());
    assert!(builtin_region("us915_8").is_none());
    assert!(builtin_region("cn470_12").is_none());
    assert!(builtin_region("us915_01").is_none());
}

#[test]
fn built_in_regions_follow_chirpstacks_files() {
    let channels = |id: &str| -> Vec<usize> {
        builtin_region(id)
            .unwrap()
            .network()
            .unwrap()
            .uplink_channels
            .iter()
            .map(|(i, _)| *i)
            .collect()
    };
    assert_eq!(channels("us915_0"), [0, 1, 2, 3, 4, 5, 6, 7, 64]);
    assert_eq!(channels("au915_7"), [56, 57, 58, 59, 60, 61, 62, 63, 71]);
    assert_eq!(channels("cn470_11"), [88, 89, 90, 91, 92, 93, 94, 95]);
    let cn = builtin_region("cn470_0").unwrap();
    assert_eq!(cn.revision, Some(Revision::B));
    let cn = cn.network().unwrap();
    assert_eq!(cn.uplink_channels[0].1.frequency, 470_300_000);
    assert_eq!(cn.rx2_frequency, 505_300_000);
    let max_dr = |id: &str| builtin_region(id).unwrap().network().unwrap().max_dr;
    assert_eq!(max_dr("eu868"), 5);
    assert_eq!(max_dr("us915_1"), 3);
    assert_eq!(max_dr("au915_0"), 5);
    assert_eq!(max_dr("as923"), 5);
    assert_eq!(max_dr("ism2400"), 7);
    let as923 = builtin_region("as923").unwrap();
    assert_eq!(as923.common_name, Some(Region::As923_1));
    assert!(as923.network().unwrap().uplink_dwell_time_400ms);
}

#[test]
fn bad_values_are_rejected_naming_the_key() {
    for (texts, needles) in [
        (vec!["[network]\nnet_id = \"xyz\""], vec!["#0", "net_id"]),
        (
            vec!["", "[network]\ndeduplication_delay = \"soon\""],
            vec!["#1", "deduplication_delay", "soon"],
        ),
        (
            vec!["[network]\ndev_addr_prefixes = [\"26000000\"]"],
            vec!["dev_addr_prefixes", "26000000"],
        ),
        (
            vec!["[network]\nenabled_regions = [\"eu999\"]"],
            vec!["network.enabled_regions", "eu999"],
        ),
        (
            vec!["[network]\nenabled_regions = []"],
            vec!["network.enabled_regions"],
        ),
        (
            vec!["[network]\nenabled_regions = [\"eu868\", \"eu868\"]"],
            vec!["twice"],
        ),
        (
            vec![
                "[network]\ndeduplication_delay = \"1500ms\"\nget_downlink_data_delay = \"600ms\"",
            ],
            vec!["get_downlink_data_delay", "RX2"],
        ),
        (
            vec!["[network.scheduler]\nbatch_size = 0"],
            vec!["network.scheduler.batch_size"],
        ),
        (
            vec!["[integration]\nenabled = [\"kafka\"]"],
            vec!["integration.enabled", "kafka"],
        ),
        (
            vec!["[integration]\nenabled = [\"http\"]"],
            vec!["integration.http.event_endpoint_url"],
        ),
        (
            vec!["[integration.mqtt]\nqos = 3"],
            vec!["integration.mqtt.qos"],
        ),
        (
            vec!["[integration.mqtt]\ntls_cert = \"c.pem\""],
            vec!["integration.mqtt.tls_key"],
        ),
        (
            vec!["[integration.mqtt]\nevent_topic = \"app/events\""],
            vec!["integration.mqtt.event_topic"],
        ),
        (
            vec!["[integration.mqtt]\nqos = \"high\""],
            vec!["#0", "qos"],
        ),
        (vec!["[api]\nbind = \"8080\""], vec!["api.bind"]),
        (vec!["[logging]\nlevel = \"loud\""], vec!["logging.level"]),
        (
            vec!["[postgresql]\ndsn = \"mysql://x\""],
            vec!["postgresql.dsn"],
        ),
        (
            vec!["[sqlite]\nmax_open_connections = 0"],
            vec!["sqlite.max_open_connections"],
        ),
        (
            vec!["[sqlite]\npragmas = [\"cache_size = 1000; DROP TABLE device\"]"],
            vec!["sqlite.pragmas", "not one pragma"],
        ),
        (
            vec!["[backend.semtech_udp]\nregion_id = \"us915_0\""],
            vec!["backend.semtech_udp.region_id"],
        ),
        (vec!["[network\n"], vec!["#0", "TOML"]),
        (
            vec!["[[regions]]\nid = \"eu868\"\n[regions.network]\nrx_window = 3"],
            vec!["regions[eu868].network.rx_window"],
        ),
        (
            vec!["[[regions]]\nid = \"eu868\"\n[regions.gateway.backend.mqtt]\nqos = 5"],
            vec!["regions[eu868].gateway.backend.mqtt.qos"],
        ),
        (
            vec!["[[regions]]\nid = \"eu868\"\n[regions.network]\nrx2_frequency = 915000000"],
            vec!["regions[eu868]", "rx2_frequency"],
        ),
        (
            vec!["[[regions]]\nid = \"eu868\"\ncommon_name = \"EU999\""],
            vec!["#0", "common_name", "EU999"],
        ),
        (
            vec!["[network]\nenabled_regions = [\"mine\"]\n[[regions]]\nid = \"mine\""],
            vec!["regions[mine]", "common_name"],
        ),
        (
            vec![
                "[network]\nenabled_regions = [\"eu868\", \"b\"]\n[[regions]]\nid = \"b\"\ncommon_name = \"EU868\"\n[regions.gateway.backend.mqtt]\ntopic_prefix = \"eu868\"",
            ],
            vec!["gateway.backend.mqtt.topic_prefix", "\"eu868\"", "\"b\""],
        ),
        (
            vec![
                "[[regions]]\nid = \"eu868\"\n[regions.gateway.backend.mqtt]\nevent_topic = \"eu/up\"",
            ],
            vec!["regions[eu868].gateway.backend.mqtt.event_topic"],
        ),
    ] {
        let e = error(&texts);
        for needle in needles {
            assert!(e.contains(needle), "{texts:?}: {needle:?} not in {e}");
        }
    }
}
