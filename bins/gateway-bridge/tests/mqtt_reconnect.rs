//! A broker crash and restart under a connected gateway: the bridge
//! reconnects (backoff capped by `max_reconnect_interval`), restates the
//! gateway ONLINE and subscribes to its commands again, so a downlink
//! published after the restart reaches the gateway.
//!
//! Each test kills its own Mosquitto (see `tls-files/tests/support/mosquitto.rs`); the
//! restarted broker keeps no retained message and no session, so whatever
//! the network server sees afterwards the bridge published again.

#[path = "support/bridge.rs"]
mod bridge;
#[path = "support/forwarder.rs"]
mod forwarder;
#[path = "support/harness.rs"]
mod harness;
#[path = "../../../tls-files/tests/support/mosquitto.rs"]
mod mosquitto;
#[path = "support/network_server.rs"]
mod network_server;
#[path = "../../../tls-files/tests/support/temp_dir.rs"]
mod temp_dir;

use harness::Harness;
use mosquitto::Mosquitto;
use packet_forwarder::gw::conn_state::State;
use temp_dir::TempDir;

async fn bridge_resubscribes_and_restates_after_broker_restart(version: &str) {
    let dir = TempDir::new("reconnect");
    let mut broker = Mosquitto::start(&dir, None).await;
    let mqtt = format!(
        "[integration.mqtt]\nprotocol_version = \"{version}\"\nmax_reconnect_interval = \"2s\""
    );
    let mut h = Harness::start(broker.port, &mqtt).await;
    h.connect_gateway().await;

    broker.restart().await;
    // The old client lost its connection and subscriptions with the broker.
    h.reconnect_network_server().await;
    // Live, or retained if the bridge was back before the subscription.
    h.expect_state(State::Online).await;
    // The bridge subscribes before it restates, so the command is heard.
    h.check_downlink(0x0000_0042, false).await;
    h.check_uplink().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_resubscribes_and_restates_after_broker_restart_v311() {
    bridge_resubscribes_and_restates_after_broker_restart("3.1.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_resubscribes_and_restates_after_broker_restart_v5() {
    bridge_resubscribes_and_restates_after_broker_restart("5").await;
}
