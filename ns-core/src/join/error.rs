//! Why a join fails, and whose fault it is.

use lorawan::phy::FrameError;
use lorawan::region::Region;
use lorawan::{Eui64, Mic};

use crate::downlink_timing::TxInfoError;

/// Why a join-request was refused or could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// Not a join-request, or one that cannot be read.
    #[error("malformed join-request: {0}")]
    MalformedFrame(#[source] FrameError),
    /// No device has the join-request's DevEUI (for the driver's lookup).
    #[error("join-request from unknown device {dev_eui}")]
    UnknownDevice {
        /// The DevEUI of the join-request.
        dev_eui: Eui64,
    },
    /// The device is disabled.
    #[error("device {dev_eui} is disabled")]
    DeviceDisabled {
        /// The device.
        dev_eui: Eui64,
    },
    /// The device's profile is for ABP devices.
    #[error("device {dev_eui}: its profile does not support OTAA")]
    OtaaNotSupported {
        /// The device.
        dev_eui: Eui64,
    },
    /// The join-request names another device than the one given.
    #[error("join-request DevEUI {received} is not the device's ({expected})")]
    DevEuiMismatch {
        /// The device given.
        expected: Eui64,
        /// The DevEUI of the join-request.
        received: Eui64,
    },
    /// The device keys given belong to another device.
    #[error("device keys of {keys} given for device {device}")]
    KeysMismatch {
        /// The device.
        device: Eui64,
        /// The DevEUI of the keys.
        keys: Eui64,
    },
    /// The join-request's JoinEUI is not the device's.
    #[error("device {dev_eui}: join-request JoinEUI {received} is not the device's ({expected})")]
    JoinEuiMismatch {
        /// The device.
        dev_eui: Eui64,
        /// The device's JoinEUI.
        expected: Eui64,
        /// The JoinEUI of the join-request.
        received: Eui64,
    },
    /// The MIC is not the one the device's NwkKey gives: a corrupted or
    /// forged frame, or a device provisioned with another key.
    #[error("device {dev_eui}: join-request MIC {received} is not {computed} (NwkKey)")]
    InvalidMic {
        /// The device.
        dev_eui: Eui64,
        /// The MIC of the frame.
        received: Mic,
        /// The MIC the NwkKey gives.
        computed: Mic,
    },
    /// The DevNonce was used before (LoRaWAN 1.0.0–1.0.3): a replay, or a
    /// device that lost its nonce state. For the driver, from storage.
    #[error("device {dev_eui}: DevNonce {dev_nonce} was used before")]
    DevNonceReused {
        /// The device.
        dev_eui: Eui64,
        /// The DevNonce.
        dev_nonce: u16,
    },
    /// The DevNonce is not above the last one (LoRaWAN 1.0.4, 1.1). For the
    /// driver, from storage.
    #[error("device {dev_eui}: DevNonce {dev_nonce} is not above the last one")]
    DevNonceNotIncreasing {
        /// The device.
        dev_eui: Eui64,
        /// The DevNonce.
        dev_nonce: u16,
    },
    /// The JoinNonce has run past 24 bits: the device cannot join again
    /// before its keys (and counters) are reset.
    #[error("device {dev_eui}: JoinNonce {join_nonce:#x} does not fit in 24 bits")]
    JoinNonceOverflow {
        /// The device.
        dev_eui: Eui64,
        /// The JoinNonce storage handed out.
        join_nonce: u32,
    },
    /// The device's profile is for another region than the one that
    /// received the join-request.
    #[error("device {dev_eui}: profile region {profile} is not the receiving region {network}")]
    RegionMismatch {
        /// The device.
        dev_eui: Eui64,
        /// The profile's region.
        profile: Region,
        /// The receiving region.
        network: Region,
    },
    /// The network settings cannot be written in a join-accept.
    #[error("region {region_config_id}: {reason}")]
    InvalidSettings {
        /// The region configuration.
        region_config_id: String,
        /// What cannot be sent.
        reason: &'static str,
    },
    /// The RX1 or RX2 transmission parameters could not be derived.
    #[error("join-accept downlink: {0}")]
    Downlink(#[from] TxInfoError),
}

/// Whose fault a [`JoinError`] is, to log it at the right level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The device or the radio: malformed frames, bad MICs, replayed nonces,
    /// unknown devices.
    Device,
    /// A gateway's metadata does not fit the region.
    Gateway,
    /// The operator's settings: disabled devices, ABP profiles, regions,
    /// exhausted JoinNonces, network settings.
    Configuration,
    /// The caller passed records that do not belong together.
    Internal,
}

impl JoinError {
    /// Whose fault the error is.
    pub fn fault(&self) -> Fault {
        match self {
            Self::MalformedFrame(_)
            | Self::UnknownDevice { .. }
            | Self::InvalidMic { .. }
            | Self::DevNonceReused { .. }
            | Self::DevNonceNotIncreasing { .. } => Fault::Device,
            Self::DeviceDisabled { .. }
            | Self::OtaaNotSupported { .. }
            | Self::JoinEuiMismatch { .. }
            | Self::JoinNonceOverflow { .. }
            | Self::RegionMismatch { .. }
            | Self::InvalidSettings { .. } => Fault::Configuration,
            Self::DevEuiMismatch { .. } | Self::KeysMismatch { .. } => Fault::Internal,
            Self::Downlink(e) => match e {
                TxInfoError::NoRx1DataRate { .. } | TxInfoError::NotDownlinkDataRate { .. } => {
                    Fault::Configuration
                }
                _ => Fault::Gateway,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_name_who_was_wrong() {
        let e = Eui64::from_u64(1);
        assert_eq!(
            JoinError::InvalidMic {
                dev_eui: e,
                received: Mic([0; 4]),
                computed: Mic([1; 4])
            }
            .fault(),
            Fault::Device
        );
        assert_eq!(
            JoinError::DeviceDisabled { dev_eui: e }.fault(),
            Fault::Configuration
        );
        assert_eq!(
            JoinError::KeysMismatch { device: e, keys: e }.fault(),
            Fault::Internal
        );
        assert_eq!(
            JoinError::Downlink(TxInfoError::MissingModulation).fault(),
            Fault::Gateway
        );
    }
}
