//! A configured network in a region: what a server or gateway loads from its
//! configuration file and checks before use.
//!
//! The shape and key names are those of a ChirpStack `[[regions]]` entry (`id`,
//! `common_name`, and the `[regions.network]` keys), so that ChirpStack region
//! files can be read as they are; keys that belong to other layers (the gateway
//! backend, class B, rejoin settings) are left to those layers and ignored here.
//!
//! ```
//! # #[cfg(feature = "toml")] {
//! use lorawan::region::{Region, RegionConfig};
//! let config = RegionConfig::from_toml(r#"
//!     id = "eu868"
//!     common_name = "EU868"
//!     [network]
//!     rx2_dr = 3
//!     rx2_frequency = 869525000
//!     [[network.extra_channels]]
//!     frequency = 867100000
//!     min_dr = 0
//!     max_dr = 5
//! "#).unwrap();
//! let network = config.resolve().unwrap();
//! assert_eq!(network.params.region, Region::Eu868);
//! assert_eq!(network.uplink_channels.len(), 4); // three defaults and one extra
//! assert_eq!(network.rx2_dr, 3);
//! # }
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use super::{Channel, ChannelPlan, Region, RegionParams, Revision, params};

/// A region entry as written in a configuration file.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct RegionConfig {
    /// The identifier other settings refer to (ChirpStack's region config id).
    pub id: String,
    /// A free description.
    pub description: String,
    /// The region's common name: `EU868`, `US915`, `AS923-2`, … (`AS923` is AS923-1).
    pub common_name: Option<Region>,
    /// The Regional Parameters revision the network follows (default: the newest).
    pub revision: Option<Revision>,
    /// The network settings.
    pub network: NetworkConfig,
}

/// The `[network]` part of a region entry. Every key is optional; a missing key
/// takes the region's default.
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct NetworkConfig {
    /// Indices of the uplink channels the network uses; empty means all. For
    /// dynamic plans the indices count the default channels, then `extra_channels`.
    pub enabled_uplink_channels: Vec<usize>,
    /// Fixed plans only: use these 8-channel sub-bands (1 to 8 in US915 and
    /// AU915), each with its 500 kHz channel. Combined with
    /// `enabled_uplink_channels` as a union.
    pub enabled_sub_bands: Vec<u8>,
    /// Channels added to a dynamic plan (sent in the CFList or by NewChannelReq).
    pub extra_channels: Vec<ExtraChannel>,
    /// RX1 delay in seconds, 1 to 15 (0 means 1).
    pub rx1_delay: Option<u8>,
    /// RX1 data-rate offset.
    pub rx1_dr_offset: Option<u8>,
    /// RX2 data rate.
    pub rx2_dr: Option<u8>,
    /// RX2 frequency in Hz.
    pub rx2_frequency: Option<u32>,
    /// Whether uplinks are limited to 400 ms dwell time (AS923, AU915).
    pub uplink_dwell_time_400ms: Option<bool>,
    /// Whether downlinks are limited to 400 ms dwell time (AS923).
    pub downlink_dwell_time_400ms: Option<bool>,
    /// The uplink MaxEIRP in dBm (default: the region's).
    pub uplink_max_eirp: Option<f32>,
    /// The lowest data rate ADR may choose.
    pub min_dr: Option<u8>,
    /// The highest data rate ADR may choose.
    pub max_dr: Option<u8>,
    /// Whether payload sizes must leave room for a repeater.
    pub repeater_compatible: bool,
}

/// An extra channel of a dynamic plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
pub struct ExtraChannel {
    /// Centre frequency in Hz.
    pub frequency: u32,
    /// Lowest data rate.
    pub min_dr: u8,
    /// Highest data rate.
    pub max_dr: u8,
}

/// What is wrong with a region configuration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not valid TOML or does not have the expected shape.
    #[error("region config: {0}")]
    Syntax(String),
    /// `common_name` is missing.
    #[error("region config {id:?}: common_name is missing")]
    MissingRegion {
        /// The entry's id.
        id: String,
    },
    /// A frequency outside the region's band.
    #[error(
        "region config {id:?}: {what} {frequency} Hz is outside the {region} band ({min}–{max} Hz)"
    )]
    FrequencyOutOfBand {
        /// The entry's id.
        id: String,
        /// Which setting.
        what: &'static str,
        /// The frequency given.
        frequency: u32,
        /// The region.
        region: Region,
        /// Band start, Hz.
        min: u32,
        /// Band end, Hz.
        max: u32,
    },
    /// A data rate the region does not define, or not in the needed direction.
    #[error("region config {id:?}: {what} DR{dr} is not {direction} data rate of {region}")]
    DataRate {
        /// The entry's id.
        id: String,
        /// Which setting.
        what: &'static str,
        /// The data rate given.
        dr: u8,
        /// `an uplink` or `a downlink`.
        direction: &'static str,
        /// The region.
        region: Region,
    },
    /// A value out of its range, or settings that contradict each other.
    #[error("region config {id:?}: {message}")]
    Invalid {
        /// The entry's id.
        id: String,
        /// What is wrong.
        message: String,
    },
}

/// A checked configuration, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// The entry's id.
    pub id: String,
    /// The configured Regional Parameters revision.
    pub revision: Revision,
    /// The region's tables at that revision (`params.revision` names the
    /// revision that last changed them).
    pub params: &'static RegionParams,
    /// The enabled uplink channels with their channel index.
    pub uplink_channels: Vec<(usize, Channel)>,
    /// The extra channels of a dynamic plan, in configuration order.
    pub extra_channels: Vec<Channel>,
    /// RX1 delay, seconds (1 to 15).
    pub rx1_delay: u8,
    /// RX1 data-rate offset.
    pub rx1_dr_offset: u8,
    /// RX2 data rate.
    pub rx2_dr: u8,
    /// RX2 frequency, Hz.
    pub rx2_frequency: u32,
    /// Uplink dwell-time limit.
    pub uplink_dwell_time_400ms: bool,
    /// Downlink dwell-time limit.
    pub downlink_dwell_time_400ms: bool,
    /// Uplink MaxEIRP, dBm.
    pub uplink_max_eirp: f32,
    /// Lowest ADR data rate.
    pub min_dr: u8,
    /// Highest ADR data rate.
    pub max_dr: u8,
    /// Repeater-compatible payload sizes.
    pub repeater_compatible: bool,
}

impl RegionConfig {
    /// Reads one region entry from TOML text.
    #[cfg(feature = "toml")]
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text)
            .map_err(|e| ConfigError::Syntax(alloc::string::ToString::to_string(&e)))
    }

    /// Reads every `[[regions]]` entry of a TOML document, such as a ChirpStack
    /// `region_*.toml` file or a server configuration.
    #[cfg(feature = "toml")]
    pub fn list_from_toml(text: &str) -> Result<Vec<Self>, ConfigError> {
        #[derive(serde::Deserialize)]
        struct Document {
            #[serde(default)]
            regions: Vec<RegionConfig>,
        }
        let doc: Document = toml::from_str(text)
            .map_err(|e| ConfigError::Syntax(alloc::string::ToString::to_string(&e)))?;
        Ok(doc.regions)
    }

    /// Checks the configuration against the region's tables and fills in the
    /// defaults.
    pub fn resolve(&self) -> Result<Network, ConfigError> {
        let id = &self.id;
        let invalid = |message: String| ConfigError::Invalid {
            id: id.clone(),
            message,
        };
        let region = self
            .common_name
            .ok_or_else(|| ConfigError::MissingRegion { id: id.clone() })?;
        let revision = self.revision.unwrap_or(Revision::LATEST);
        let params = params(region, revision);
        let net = &self.network;
        let check_freq = |what: &'static str, frequency: u32| {
            let (min, max) = region.band();
            if (min..=max).contains(&frequency) {
                Ok(())
            } else {
                Err(ConfigError::FrequencyOutOfBand {
                    id: id.clone(),
                    what,
                    frequency,
                    region,
                    min,
                    max,
                })
            }
        };
        let check_dr = |what: &'static str, dr: u8, uplink: bool| {
            let ok = params
                .data_rates
                .get(usize::from(dr))
                .copied()
                .flatten()
                .is_some_and(|d| if uplink { d.uplink } else { d.downlink });
            if ok {
                Ok(())
            } else {
                Err(ConfigError::DataRate {
                    id: id.clone(),
                    what,
                    dr,
                    direction: if uplink { "an uplink" } else { "a downlink" },
                    region,
                })
            }
        };

        // Channels: the plan's own, then the extra ones (dynamic plans only).
        let mut all: Vec<Channel> = (0..params.uplink_channel_count())
            .filter_map(|i| params.uplink_channel(i))
            .collect();
        let mut extra_channels = Vec::new();
        match params.channel_plan {
            ChannelPlan::Dynamic { max_channels, .. } => {
                for c in &net.extra_channels {
                    check_freq("extra channel", c.frequency)?;
                    check_dr("extra channel min_dr", c.min_dr, true)?;
                    check_dr("extra channel max_dr", c.max_dr, true)?;
                    if c.min_dr > c.max_dr {
                        return Err(invalid(alloc::format!(
                            "extra channel {} Hz has min_dr {} above max_dr {}",
                            c.frequency,
                            c.min_dr,
                            c.max_dr
                        )));
                    }
                    if all.iter().any(|d| d.frequency == c.frequency) {
                        return Err(invalid(alloc::format!(
                            "extra channel {} Hz is defined twice",
                            c.frequency
                        )));
                    }
                    let channel = Channel {
                        frequency: c.frequency,
                        min_dr: c.min_dr,
                        max_dr: c.max_dr,
                    };
                    all.push(channel);
                    extra_channels.push(channel);
                }
                if all.len() > usize::from(max_channels) {
                    return Err(invalid(alloc::format!(
                        "{} channels configured; {region} devices hold at most {max_channels}",
                        all.len()
                    )));
                }
                if !net.enabled_sub_bands.is_empty() {
                    return Err(invalid(alloc::format!(
                        "enabled_sub_bands applies to fixed channel plans, not {region}"
                    )));
                }
            }
            ChannelPlan::Fixed { .. } => {
                if !net.extra_channels.is_empty() {
                    return Err(invalid(alloc::format!(
                        "{region} has a fixed channel plan: extra channels cannot be added"
                    )));
                }
            }
        }

        let mut enabled: Vec<usize> = net.enabled_uplink_channels.clone();
        for &i in &enabled {
            if i >= all.len() {
                return Err(invalid(alloc::format!(
                    "enabled uplink channel {i} does not exist ({region} has channels 0 to {})",
                    all.len() - 1
                )));
            }
        }
        enabled.extend(sub_band_channels(region, params, &net.enabled_sub_bands).map_err(invalid)?);
        if enabled.is_empty() {
            enabled = (0..all.len()).collect();
        }
        enabled.sort_unstable();
        enabled.dedup();
        let uplink_channels = enabled.into_iter().map(|i| (i, all[i])).collect();

        let rx2_frequency = net.rx2_frequency.unwrap_or(params.rx2_frequency);
        check_freq("rx2_frequency", rx2_frequency)?;
        let rx2_dr = net.rx2_dr.unwrap_or(params.rx2_dr);
        check_dr("rx2_dr", rx2_dr, false)?;
        let rx1_dr_offset = net.rx1_dr_offset.unwrap_or(0);
        let offsets = params.rx1_dr.first().map_or(0, |row| row.len());
        if usize::from(rx1_dr_offset) >= offsets {
            return Err(invalid(alloc::format!(
                "rx1_dr_offset {rx1_dr_offset} is not defined in {region} (0 to {})",
                offsets.saturating_sub(1)
            )));
        }
        let rx1_delay = match net.rx1_delay.unwrap_or(1) {
            0 => 1,
            d @ 1..=15 => d,
            d => return Err(invalid(alloc::format!("rx1_delay {d} s: must be 0 to 15"))),
        };
        let dwell_capable = params.tx_param_setup || params.max_payload_dwell_time.is_some();
        let uplink_dwell = net
            .uplink_dwell_time_400ms
            .unwrap_or(params.default_dwell_time);
        // Only regions with a downlink dwell-time table (AS923) limit downlinks by default.
        let downlink_dwell = net
            .downlink_dwell_time_400ms
            .unwrap_or(params.default_dwell_time && params.rx1_dr_dwell_time.is_some());
        if (uplink_dwell || downlink_dwell) && !dwell_capable {
            return Err(invalid(alloc::format!(
                "{region} has no dwell-time limits: leave the dwell-time settings unset or false"
            )));
        }

        let uplink_drs: Vec<u8> = (0u8..16)
            .filter(|&dr| check_dr("", dr, true).is_ok())
            .collect();
        let min_dr = net
            .min_dr
            .unwrap_or(uplink_drs.first().copied().unwrap_or(0));
        let max_dr = net
            .max_dr
            .unwrap_or(uplink_drs.last().copied().unwrap_or(0));
        check_dr("min_dr", min_dr, true)?;
        check_dr("max_dr", max_dr, true)?;
        if min_dr > max_dr {
            return Err(invalid(alloc::format!(
                "min_dr {min_dr} is above max_dr {max_dr}"
            )));
        }
        let uplink_max_eirp = net.uplink_max_eirp.unwrap_or(params.default_max_eirp);
        if !(-10.0..=36.0).contains(&uplink_max_eirp) {
            return Err(invalid(alloc::format!(
                "uplink_max_eirp {uplink_max_eirp} dBm is not a plausible EIRP"
            )));
        }

        Ok(Network {
            id: id.clone(),
            revision,
            params,
            uplink_channels,
            extra_channels,
            rx1_delay,
            rx1_dr_offset,
            rx2_dr,
            rx2_frequency,
            uplink_dwell_time_400ms: uplink_dwell,
            downlink_dwell_time_400ms: downlink_dwell,
            uplink_max_eirp,
            min_dr,
            max_dr,
            repeater_compatible: net.repeater_compatible,
        })
    }
}

/// The channel indices of the given 8-channel sub-bands (1-based) of a fixed
/// plan: eight 125 kHz channels and the 500 kHz channel of the same bank.
fn sub_band_channels(
    region: Region,
    params: &RegionParams,
    sub_bands: &[u8],
) -> Result<Vec<usize>, String> {
    let ChannelPlan::Fixed {
        uplink,
        uplink_wide,
        ..
    } = params.channel_plan
    else {
        return Ok(Vec::new());
    };
    let banks = usize::from(uplink.count) / 8;
    let mut out = Vec::new();
    for &sb in sub_bands {
        let bank = usize::from(sb).wrapping_sub(1);
        if bank >= banks {
            return Err(alloc::format!(
                "sub-band {sb} does not exist in {region} (1 to {banks})"
            ));
        }
        out.extend(bank * 8..bank * 8 + 8);
        // The 500 kHz channels follow the 125 kHz grid, one per bank.
        if uplink_wide.is_some_and(|wide| bank < usize::from(wide.count)) {
            out.push(usize::from(uplink.count) + bank);
        }
    }
    Ok(out)
}

#[cfg(all(test, feature = "toml"))]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<Network, ConfigError> {
        RegionConfig::from_toml(text)?.resolve()
    }

    #[test]
    fn chirpstack_region_file_reads_as_is() {
        // The shape of ChirpStack's region_eu868.toml, keys of other layers included.
        let text = r#"
            [[regions]]
            id = "eu868"
            description = "EU868"
            common_name = "EU868"
              [regions.gateway]
              force_gws_private = false
                [regions.gateway.backend.mqtt]
                topic_prefix = "eu868"
                server = "tcp://localhost:1883"
            [regions.network]
              installation_margin = 10
              rx_window = 0
              rx1_delay = 1
              rx1_dr_offset = 0
              rx2_dr = 0
              rx2_frequency = 869525000
              rx2_prefer_on_rx1_dr_lt = 0
              downlink_tx_power = -1
              adr_disabled = false
              min_dr = 0
              max_dr = 5
                [regions.network.class_b]
                ping_slot_dr = 3
                ping_slot_frequency = 0
                [[regions.network.extra_channels]]
                frequency = 867100000
                min_dr = 0
                max_dr = 5
                [[regions.network.extra_channels]]
                frequency = 867300000
                min_dr = 0
                max_dr = 5
        "#;
        let list = RegionConfig::list_from_toml(text).unwrap();
        assert_eq!(list.len(), 1);
        let net = list[0].resolve().unwrap();
        assert_eq!(net.id, "eu868");
        assert_eq!(net.params.region, Region::Eu868);
        assert_eq!(net.uplink_channels.len(), 5);
        assert_eq!(net.extra_channels[1].frequency, 867_300_000);
        assert_eq!(
            (net.rx2_dr, net.rx2_frequency, net.rx1_delay),
            (0, 869_525_000, 1)
        );
        assert_eq!((net.min_dr, net.max_dr), (0, 5));
    }

    #[test]
    fn defaults_come_from_the_region() {
        let net = resolve("common_name = \"EU868\"").unwrap();
        // The tables of the newest revision (dated by the revision that set them).
        assert_eq!(net.revision, Revision::LATEST);
        assert_eq!(net.params, params(Region::Eu868, Revision::LATEST));
        // A fixed plan's every channel, second groups included.
        let cn = resolve("common_name = \"CN470\"").unwrap();
        assert_eq!(cn.uplink_channels.len(), cn.params.uplink_channel_count());
        let old = resolve("common_name = \"CN470\"\nrevision = \"B\"").unwrap();
        assert_eq!((old.revision, old.uplink_channels.len()), (Revision::B, 96));
        assert_eq!(net.rx2_frequency, net.params.rx2_frequency);
        assert_eq!(net.rx2_dr, net.params.rx2_dr);
        assert_eq!(net.uplink_max_eirp, net.params.default_max_eirp);
        assert_eq!(net.uplink_channels.len(), 3);
        assert!(!net.uplink_dwell_time_400ms);
    }

    #[test]
    fn unknown_region_is_a_syntax_error_naming_the_choices() {
        let err = RegionConfig::from_toml("common_name = \"EU999\"").unwrap_err();
        let ConfigError::Syntax(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.contains("unknown region"), "{text}");
        assert!(text.contains("EU868"), "{text}");
    }

    #[test]
    fn missing_region_is_reported() {
        assert_eq!(
            resolve("id = \"x\""),
            Err(ConfigError::MissingRegion { id: "x".into() })
        );
    }

    #[test]
    fn channel_outside_the_band_is_rejected() {
        let err = resolve(
            "common_name = \"EU868\"\n[[network.extra_channels]]\nfrequency = 915000000\nmin_dr = 0\nmax_dr = 5",
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::FrequencyOutOfBand {
                    frequency: 915_000_000,
                    region: Region::Eu868,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("outside the EU868 band"), "{err}");
    }

    #[test]
    fn data_rates_the_region_lacks_are_rejected() {
        let err = resolve("common_name = \"EU868\"\n[network]\nmin_dr = 15").unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::DataRate {
                    dr: 15,
                    what: "min_dr",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = resolve("common_name = \"US915\"\n[network]\nrx2_dr = 0").unwrap_err();
        assert!(
            err.to_string()
                .contains("not a downlink data rate of US915"),
            "{err}"
        );
    }

    #[test]
    fn sub_band_enables_its_eight_channels_and_the_wide_one() {
        let net = resolve("common_name = \"US915\"\n[network]\nenabled_sub_bands = [2]").unwrap();
        let idx: Vec<usize> = net.uplink_channels.iter().map(|(i, _)| *i).collect();
        assert_eq!(idx, [8, 9, 10, 11, 12, 13, 14, 15, 65]);
        assert_eq!(net.uplink_channels[0].1.frequency, 903_900_000);
        let err =
            resolve("common_name = \"US915\"\n[network]\nenabled_sub_bands = [9]").unwrap_err();
        assert!(
            err.to_string().contains("sub-band 9 does not exist"),
            "{err}"
        );
    }

    #[test]
    fn contradictions_are_rejected() {
        let cases = [
            (
                "common_name = \"US915\"\n[[network.extra_channels]]\nfrequency = 903000000\nmin_dr = 0\nmax_dr = 3",
                "fixed channel plan",
            ),
            (
                "common_name = \"EU868\"\n[network]\nenabled_uplink_channels = [3]",
                "channel 3 does not exist",
            ),
            (
                "common_name = \"EU868\"\n[network]\nuplink_dwell_time_400ms = true",
                "no dwell-time limits",
            ),
            (
                "common_name = \"EU868\"\n[network]\nmin_dr = 5\nmax_dr = 2",
                "above max_dr",
            ),
            (
                "common_name = \"EU868\"\n[network]\nrx1_delay = 16",
                "rx1_delay 16",
            ),
            (
                "common_name = \"EU868\"\n[network]\nrx1_dr_offset = 7",
                "rx1_dr_offset 7",
            ),
            (
                "common_name = \"EU868\"\n[network]\nenabled_sub_bands = [1]",
                "fixed channel plans",
            ),
        ];
        for (text, needle) in cases {
            let err = resolve(text).unwrap_err();
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn a_dynamic_plan_holds_at_most_sixteen_channels() {
        let mut text = alloc::string::String::from("common_name = \"EU868\"\n");
        for i in 0..14 {
            text.push_str(&alloc::format!(
                "[[network.extra_channels]]\nfrequency = {}\nmin_dr = 0\nmax_dr = 5\n",
                863_100_000 + i * 200_000
            ));
        }
        let err = resolve(&text).unwrap_err();
        assert!(err.to_string().contains("17 channels configured"), "{err}");
    }

    #[test]
    fn as923_applies_dwell_time_by_default() {
        let net = resolve("common_name = \"AS923\"").unwrap();
        assert_eq!(net.params.region, Region::As923_1);
        assert!(net.uplink_dwell_time_400ms);
        let net = resolve("common_name = \"AS923-2\"\n[network]\nuplink_dwell_time_400ms = false")
            .unwrap();
        assert!(!net.uplink_dwell_time_400ms);
    }
}
