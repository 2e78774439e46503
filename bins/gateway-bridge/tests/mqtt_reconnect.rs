//! A broker crash and restart under a connected gateway: the bridge
//! reconnects (backoff capped by `max_reconnect_interval`), restates the
//! gateway ONLINE and subscribes to its commands again, so a downlink
//! published after the restart reaches the gateway.
//!
//! Each test kills its own Mosquitto (see `common/mosquitto.rs`); the
//! restarted broker keeps no retained message and no session, so whatever
//! the network server sees afterwards the bridge published again.

#[path = "common/harness.rs"]
mod harness;
#[path = "common/mosquitto.rs"]
mod mosquitto;

use harness::Harness;
use mosquitto::{Mosquitto, TempDir};
use packet_forwarder::gw::conn_state::State;

async fn bridge_resubscribes_and_restates_after_broker_restart(version: &str) {
    let dir = TempDir::new("reconnect");
    let mut broker = Mosquitto::start(&dir, None).await;
    let mqtt = format!(
        "[integration.mqtt]\nprotocol_version = \"{version}\"\nmax_reconnect_interval = \"2s\"\n\
         [integration.mqtt.auth.generic]\nservers = [\"tcp://127.0.0.1:{}\"]",
        broker.port
    );
    let mut h = Harness::start(broker.port, &mqtt).await;
    h.connect_gateway().await;

    broker.restart().await;
    // The old client lost its connection and subscriptions with the broker.
    h.reconnect_network_server(broker.port).await;
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
