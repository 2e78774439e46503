//! What every integration test of the bridge shares: a bound on waits, the
//! fake gateway's EUI, MQTT topics under a prefix of the test's own, and a
//! bridge running in a task.
//!
//! The other support files use this one: a test file that includes any of
//! them includes `#[path = "support/bridge.rs"] mod bridge;` too.
// Each test file uses a part of it.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use gateway_bridge::Bridge;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Every wait is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);
/// The fake gateway's EUI, as the bridge writes it in topics and messages.
pub const GATEWAY_ID: &str = "0102030405060708";
/// The same EUI, as a Semtech UDP header carries it.
pub const GATEWAY_EUI: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

/// ChirpStack's topics, `<prefix>/gateway/<GatewayID>/<event|state|command>/<type>`,
/// under a prefix of the test's own, so that tests running in parallel
/// share a broker safely.
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// A fresh prefix, `<name>-<random>`.
    pub fn new(name: &str) -> Self {
        Self {
            prefix: format!("{name}-{:016x}", rand::random::<u64>()),
        }
    }

    /// `[integration.mqtt]` templates for these topics, to merge into the
    /// bridge's configuration.
    pub fn config(&self) -> String {
        let prefix = &self.prefix;
        format!(
            r#"
            [integration.mqtt]
            event_topic_template = "{prefix}/gateway/{{{{ .GatewayID }}}}/event/{{{{ .EventType }}}}"
            state_topic_template = "{prefix}/gateway/{{{{ .GatewayID }}}}/state/{{{{ .StateType }}}}"
            command_topic_template = "{prefix}/gateway/{{{{ .GatewayID }}}}/command/#"
            "#
        )
    }

    /// What a network server subscribes to: every gateway's events and
    /// states.
    pub fn filters(&self) -> [String; 2] {
        [
            format!("{}/gateway/+/event/+", self.prefix),
            format!("{}/gateway/+/state/+", self.prefix),
        ]
    }

    /// The fake gateway's topic `rest`, say `state/conn` or `command/down`.
    pub fn gateway(&self, rest: &str) -> String {
        format!("{}/gateway/{GATEWAY_ID}/{rest}", self.prefix)
    }
}

/// A bridge running in a task until [`stop`](Self::stop)ped.
pub struct RunningBridge {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningBridge {
    /// Runs `bridge` in a task.
    pub fn spawn(bridge: Bridge) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(bridge.run(async {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            task,
        }
    }

    /// Whether the bridge still runs.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Stops the bridge, which must end without error within [`WAIT`], and
    /// not before it was told to.
    pub async fn stop(&mut self) {
        let stop = self.stop.take().expect("the bridge was stopped already");
        // The receiver is gone only if the bridge ended on its own.
        let told = stop.send(()).is_ok();
        timeout(WAIT, &mut self.task)
            .await
            .expect("bridge did not stop")
            .unwrap()
            .unwrap();
        assert!(told, "the bridge ended before it was stopped");
    }
}
