//! Application commands: downlinks enqueued through an integration.

use lorawan::Eui64;
use tracing::debug;
use uuid::Uuid;

use std::sync::Arc;

use super::Shared;
use crate::integration::{CommandError, CommandTopic, Encoding, parse_downlink_command};
use crate::model::QueueItem;
use crate::storage::StorageError;

/// Why a command was not enqueued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// The topic or payload is not a valid command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The device does not exist, or belongs to another application than
    /// the topic names (the same answer for both, so a topic cannot probe
    /// other applications' devices).
    #[error("device {dev_eui} not found in application {application_id}")]
    NoSuchDevice {
        /// The topic's application.
        application_id: Uuid,
        /// The device.
        dev_eui: Eui64,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Enqueues the downlinks of integration commands; from
/// [`PipelineHandle::command_queue`](super::PipelineHandle::command_queue).
#[derive(Debug, Clone)]
pub struct CommandQueue {
    pub(super) shared: Arc<Shared>,
}

impl CommandQueue {
    /// Enqueues the downlink of an integration command message received on
    /// `topic` (read against the command topic `template`), after checking
    /// that the device belongs to the topic's application, as ChirpStack
    /// does. Counted in
    /// [`PipelineCounters::commands_enqueued`](super::PipelineCounters::commands_enqueued)
    /// or `commands_rejected`.
    ///
    /// # Errors
    /// [`EnqueueError`]: nothing was enqueued.
    pub async fn enqueue_command(
        &self,
        template: &str,
        topic: &str,
        payload: &[u8],
        encoding: Encoding,
    ) -> Result<QueueItem, EnqueueError> {
        let counters = &self.shared.counters;
        let result = self.try_enqueue(template, topic, payload, encoding).await;
        match &result {
            Ok(_) => counters.bump(&counters.commands_enqueued),
            Err(error) => {
                counters.bump(&counters.commands_rejected);
                debug!(topic, %error, "integration command rejected");
            }
        }
        result
    }

    async fn try_enqueue(
        &self,
        template: &str,
        topic: &str,
        payload: &[u8],
        encoding: Encoding,
    ) -> Result<QueueItem, EnqueueError> {
        let topic = CommandTopic::parse(template, topic)?;
        let item =
            parse_downlink_command(&topic, payload, encoding, self.shared.settings.clock.now())?;
        let storage = &self.shared.storage;
        let no_such_device = || EnqueueError::NoSuchDevice {
            application_id: topic.application_id,
            dev_eui: topic.dev_eui,
        };
        let class = match storage.get_device(topic.dev_eui).await {
            Ok(device) if device.application_id == topic.application_id => device.enabled_class,
            Ok(_) | Err(StorageError::NotFound(_)) => return Err(no_such_device()),
            Err(e) => return Err(e.into()),
        };
        storage.enqueue(&item).await?;
        if class == crate::model::DeviceClass::C {
            self.shared.scheduler_wake.notify_one();
        }
        Ok(item)
    }
}
