//! Hand-written, fully populated `gw` messages shared by the gw_* tests.
//! tests/python/check_gw.py `authored()` builds the same messages with the
//! official definitions; keep the two in step.

use std::collections::HashMap;

use packet_forwarder::gw::{self, common};
use packet_forwarder::gw::{Duration, Timestamp};

pub(crate) const GATEWAY_ID: &str = "0102030405060708";

fn lora(spreading_factor: u32, polarization_inversion: bool) -> gw::Modulation {
    gw::Modulation {
        parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
            bandwidth: 125_000,
            spreading_factor,
            code_rate: gw::CodeRate::Cr45.into(),
            polarization_inversion,
            ..Default::default()
        })),
    }
}

pub(crate) fn uplink_frame() -> gw::UplinkFrame {
    gw::UplinkFrame {
        phy_payload: vec![
            0x40, 0x04, 0x03, 0x02, 0x01, 0x80, 0x00, 0x01, 0x00, 0x01, 0xa1, 0xb2, 0xc3, 0xd4,
        ],
        tx_info: Some(gw::UplinkTxInfo {
            frequency: 868_100_000,
            modulation: Some(lora(7, false)),
        }),
        rx_info: Some(gw::UplinkRxInfo {
            gateway_id: GATEWAY_ID.into(),
            uplink_id: 4_000_000_001,
            gw_time: Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 5_000,
            }),
            time_since_gps_epoch: Some(Duration {
                seconds: 1_384_035_218,
                nanos: 5_000,
            }),
            fine_time_since_gps_epoch: Some(Duration {
                seconds: 1_384_035_218,
                nanos: 5_123,
            }),
            rssi: -120,
            snr: -7.25,
            channel: 2,
            rf_chain: 1,
            board: 0,
            antenna: 1,
            location: Some(common::Location {
                latitude: 52.3676,
                longitude: 4.9041,
                altitude: -2.0,
                source: common::LocationSource::Gps.into(),
                accuracy: 10.0,
            }),
            context: vec![0x12, 0x34, 0x56, 0x78],
            metadata: HashMap::from([("region".into(), "eu868".into())]),
            crc_status: gw::CrcStatus::CrcOk.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) fn downlink_frame() -> gw::DownlinkFrame {
    gw::DownlinkFrame {
        downlink_id: 42,
        gateway_id: GATEWAY_ID.into(),
        items: vec![
            gw::DownlinkFrameItem {
                phy_payload: vec![0x60, 0x01],
                tx_info: Some(gw::DownlinkTxInfo {
                    frequency: 868_100_000,
                    power: 14,
                    modulation: Some(lora(7, true)),
                    timing: Some(gw::Timing {
                        parameters: Some(gw::timing::Parameters::Delay(gw::DelayTimingInfo {
                            delay: Some(Duration {
                                seconds: 1,
                                nanos: 0,
                            }),
                        })),
                    }),
                    context: vec![0x12, 0x34, 0x56, 0x78],
                    ..Default::default()
                }),
                ..Default::default()
            },
            gw::DownlinkFrameItem {
                phy_payload: vec![0x60, 0x01],
                tx_info: Some(gw::DownlinkTxInfo {
                    frequency: 869_525_000,
                    power: -3,
                    modulation: Some(gw::Modulation {
                        parameters: Some(gw::modulation::Parameters::Fsk(gw::FskModulationInfo {
                            frequency_deviation: 25_000,
                            datarate: 50_000,
                        })),
                    }),
                    timing: Some(gw::Timing {
                        parameters: Some(gw::timing::Parameters::Immediately(
                            gw::ImmediatelyTimingInfo {},
                        )),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

pub(crate) fn downlink_tx_ack() -> gw::DownlinkTxAck {
    gw::DownlinkTxAck {
        gateway_id: GATEWAY_ID.into(),
        downlink_id: 42,
        items: vec![
            gw::DownlinkTxAckItem {
                status: gw::TxAckStatus::TooLate.into(),
            },
            gw::DownlinkTxAckItem {
                status: gw::TxAckStatus::Ok.into(),
            },
        ],
        ..Default::default()
    }
}

pub(crate) fn gateway_stats() -> gw::GatewayStats {
    gw::GatewayStats {
        gateway_id: GATEWAY_ID.into(),
        time: Some(Timestamp {
            seconds: 1_700_000_030,
            nanos: 0,
        }),
        config_version: "v1".into(),
        rx_packets_received: 10,
        rx_packets_received_ok: 9,
        tx_packets_received: 2,
        tx_packets_emitted: 1,
        tx_packets_per_frequency: HashMap::from([(868_100_000, 1)]),
        rx_packets_per_frequency: HashMap::from([(868_100_000, 9)]),
        tx_packets_per_status: HashMap::from([("OK".into(), 1), ("TOO_LATE".into(), 1)]),
        rx_packets_per_modulation: vec![gw::PerModulationCount {
            modulation: Some(gw::Modulation {
                parameters: Some(gw::modulation::Parameters::LrFhss(
                    gw::LrFhssModulationInfo {
                        operating_channel_width: 137_000,
                        code_rate: gw::CodeRate::Cr26.into(),
                        grid_steps: 52,
                        ..Default::default()
                    },
                )),
            }),
            count: 9,
        }],
        duty_cycle_stats: Some(gw::DutyCycleStats {
            regulation: common::Regulation::EtsiEn300220.into(),
            window: Some(Duration {
                seconds: 3600,
                nanos: 0,
            }),
            bands: vec![gw::DutyCycleBand {
                name: "L".into(),
                frequency_min: 865_000_000,
                frequency_max: 868_000_000,
                load_max: Some(Duration {
                    seconds: 36,
                    nanos: 0,
                }),
                load_tracked: Some(Duration {
                    seconds: 0,
                    nanos: 56_000_000,
                }),
            }],
        }),
        ..Default::default()
    }
}

pub(crate) fn gateway_configuration() -> gw::GatewayConfiguration {
    gw::GatewayConfiguration {
        gateway_id: GATEWAY_ID.into(),
        version: "v2".into(),
        stats_interval: Some(Duration {
            seconds: 30,
            nanos: 0,
        }),
        channels: vec![
            gw::ChannelConfiguration {
                frequency: 868_100_000,
                modulation_config: Some(
                    gw::channel_configuration::ModulationConfig::LoraModulationConfig(
                        gw::LoraModulationConfig {
                            bandwidth: 125_000,
                            spreading_factors: vec![7, 8, 9, 10, 11, 12],
                            ..Default::default()
                        },
                    ),
                ),
                ..Default::default()
            },
            gw::ChannelConfiguration {
                frequency: 868_800_000,
                modulation_config: Some(
                    gw::channel_configuration::ModulationConfig::FskModulationConfig(
                        gw::FskModulationConfig {
                            bandwidth: 125_000,
                            bitrate: 50_000,
                            ..Default::default()
                        },
                    ),
                ),
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

pub(crate) fn conn_state() -> gw::ConnState {
    gw::ConnState {
        gateway_id: GATEWAY_ID.into(),
        state: gw::conn_state::State::Online.into(),
        ..Default::default()
    }
}

pub(crate) fn event() -> gw::Event {
    gw::Event {
        event: Some(gw::event::Event::UplinkFrame(uplink_frame())),
    }
}

pub(crate) fn command() -> gw::Command {
    gw::Command {
        command: Some(gw::command::Command::SendDownlinkFrame(downlink_frame())),
    }
}
