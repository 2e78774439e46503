//! `router_config`: the LNS's answer to `version`, the region and radio setup.

use lorawan::modulation::Modulation;
use lorawan::region::{Channel, ChannelSet, Region, RegionParams};
use lorawan::{Eui64, NetId};
use serde::{Deserialize, Serialize};

use super::Error;

/// The region name the station accepts for a lorawan region.
///
/// Station 2.0.6 knows `EU863`, `US902`, `AS923-1`, `AU915`, `KR920` (and
/// `IL915`); it drops every downlink of a station configured with another
/// name, so the others are given by their common names for later stations.
pub const fn station_region_name(region: Region) -> &'static str {
    match region {
        Region::Eu868 => "EU863",
        Region::Us915 => "US902",
        r => r.common_name(),
    }
}

/// Filters and flags of a `router_config` beyond what the region gives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouterConfigOptions {
    /// NetIDs whose data frames pass; empty passes all.
    pub net_ids: Vec<NetId>,
    /// Inclusive JoinEUI ranges whose join-requests pass; empty passes all.
    pub join_eui_ranges: Vec<(Eui64, Eui64)>,
    /// Override of the region's maximum EIRP, dBm.
    pub max_eirp: Option<f32>,
    /// Disable clear-channel assessment (non-production stations only).
    pub nocca: bool,
    /// Disable duty-cycle limits (non-production stations only).
    pub nodc: bool,
    /// Disable dwell-time limits (non-production stations only).
    pub nodwell: bool,
}

/// `router_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterConfig {
    /// NetIDs to pass, `null` for all.
    #[serde(rename = "NetID")]
    pub net_id: Option<Vec<u32>>,
    /// Inclusive `[low, high]` JoinEUI ranges to pass, `null` for all.
    #[serde(rename = "JoinEui")]
    pub join_eui: Option<Vec<[u64; 2]>>,
    /// Region name as the station spells it ([`station_region_name`]).
    pub region: String,
    /// `"sx1301/1"`.
    pub hwspec: String,
    /// Lowest and highest downlink frequency, Hz.
    pub freq_range: [u32; 2],
    /// The 16 data rates: `[SF, BW kHz, downlink-only]`, SF 0 for FSK, −1 for undefined.
    #[serde(rename = "DRs")]
    pub drs: Vec<[i32; 3]>,
    /// One entry per concentrator.
    pub sx1301_conf: Vec<Sx1301Conf>,
    /// Maximum EIRP, dBm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_eirp: Option<f32>,
    /// No clear-channel assessment.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nocca: bool,
    /// No duty-cycle limits.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nodc: bool,
    /// No dwell-time limits.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nodwell: bool,
    /// The LNS's UTC time, seconds, when sent.
    #[serde(rename = "MuxTime", default, skip_serializing_if = "Option::is_none")]
    pub mux_time: Option<f64>,
}

/// One SX1301's radios and IF channels, in Semtech's `global_conf` layout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sx1301Conf {
    /// Radio A.
    pub radio_0: Radio,
    /// Radio B.
    pub radio_1: Radio,
    /// The FSK channel.
    #[serde(rename = "chan_FSK")]
    pub chan_fsk: IfChannel,
    /// The single-SF LoRa channel (250 or 500 kHz).
    #[serde(rename = "chan_Lora_std")]
    pub chan_lora_std: IfChannel,
    /// The eight multi-SF 125 kHz channels.
    #[serde(rename = "chan_multiSF_0")]
    pub chan_multi_sf_0: IfChannel,
    /// Multi-SF channel 1.
    #[serde(rename = "chan_multiSF_1")]
    pub chan_multi_sf_1: IfChannel,
    /// Multi-SF channel 2.
    #[serde(rename = "chan_multiSF_2")]
    pub chan_multi_sf_2: IfChannel,
    /// Multi-SF channel 3.
    #[serde(rename = "chan_multiSF_3")]
    pub chan_multi_sf_3: IfChannel,
    /// Multi-SF channel 4.
    #[serde(rename = "chan_multiSF_4")]
    pub chan_multi_sf_4: IfChannel,
    /// Multi-SF channel 5.
    #[serde(rename = "chan_multiSF_5")]
    pub chan_multi_sf_5: IfChannel,
    /// Multi-SF channel 6.
    #[serde(rename = "chan_multiSF_6")]
    pub chan_multi_sf_6: IfChannel,
    /// Multi-SF channel 7.
    #[serde(rename = "chan_multiSF_7")]
    pub chan_multi_sf_7: IfChannel,
}

/// A radio (RF chain) of an SX1301.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Radio {
    /// Whether the radio receives.
    pub enable: bool,
    /// Centre frequency, Hz (0 when disabled).
    pub freq: u32,
}

/// An IF channel of an SX1301.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfChannel {
    /// Whether the channel receives.
    pub enable: bool,
    /// The radio it is on (0 or 1).
    pub radio: u8,
    /// Offset from the radio's centre, Hz.
    #[serde(rename = "if")]
    pub if_freq: i32,
    /// Bandwidth, Hz (single-SF and FSK channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<u32>,
    /// Spreading factor (single-SF channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread_factor: Option<u8>,
    /// Bit rate (FSK channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datarate: Option<u32>,
}

/// The `DRs` table of a region: 16 entries `[SF, BW kHz, DNONLY]`.
///
/// FSK is `[0, 0, 0]`; undefined indices and LR-FHSS, which the station
/// cannot use, are `[-1, 0, 0]`.
pub fn dr_table(params: &RegionParams) -> Vec<[i32; 3]> {
    (0u8..16)
        .map(|i| match params.data_rate(i) {
            Some(d) => {
                let dnonly = i32::from(!d.uplink);
                match d.modulation {
                    Modulation::Lora {
                        spreading_factor,
                        bandwidth,
                    } => [
                        i32::from(spreading_factor),
                        (bandwidth / 1000) as i32,
                        dnonly,
                    ],
                    Modulation::Fsk { .. } => [0, 0, dnonly],
                    Modulation::LrFhss { .. } => [-1, 0, 0],
                }
            }
            None => [-1, 0, 0],
        })
        .collect()
}

/// How one uplink channel is received.
enum Kind {
    MultiSf,
    Std { bandwidth: u32, sf: u8 },
    Fsk { bitrate: u32 },
}

/// The 125 kHz multi-SF demodulators and a 250 kHz single-SF channel fit in
/// ±(925 kHz − BW)/2 of a radio's centre; a 500 kHz channel in ±(1100 − 500)/2.
fn max_if(bandwidth: u32) -> i64 {
    if bandwidth >= 500_000 {
        300_000
    } else {
        (925_000 - i64::from(bandwidth)) / 2
    }
}

fn kind(params: &RegionParams, ch: &Channel) -> Result<Kind, Error> {
    // LR-FHSS rates in a channel's range (US915 DR5 and DR6 in RP002-1.0.3
    // and later) are not for an SX1301 and are left out.
    let mut rates = Vec::new();
    for dr in ch.min_dr..=ch.max_dr {
        match params.data_rate(dr).map(|d| d.modulation) {
            None => {
                return Err(Error::UnknownDataRate {
                    dr,
                    region: params.region,
                });
            }
            Some(Modulation::LrFhss { .. }) => {}
            Some(m) => rates.push(m),
        }
    }
    match rates.as_slice() {
        [] => Err(Error::ChannelPlan("a channel has only LR-FHSS rates")),
        [
            Modulation::Lora {
                spreading_factor,
                bandwidth,
            },
        ] => Ok(Kind::Std {
            bandwidth: *bandwidth,
            sf: *spreading_factor,
        }),
        [Modulation::Fsk { bitrate }] => Ok(Kind::Fsk { bitrate: *bitrate }),
        many if many.iter().all(|m| {
            matches!(
                m,
                Modulation::Lora {
                    bandwidth: 125_000,
                    ..
                }
            )
        }) =>
        {
            Ok(Kind::MultiSf)
        }
        _ => Err(Error::ChannelPlan(
            "multi-SF channel with a non-125 kHz rate",
        )),
    }
}

/// The `sx1301_conf` of one SX1301 for the given uplink channels: multi-SF
/// channels fill radio 0 from the lowest frequency, then radio 1, each radio
/// centred on its channels; the single-SF and FSK channels go on whichever
/// radio reaches them.
pub fn sx1301_conf(params: &RegionParams, channels: &[Channel]) -> Result<Sx1301Conf, Error> {
    let mut multi: Vec<u32> = Vec::new();
    let mut std = None;
    let mut fsk = None;
    for ch in channels {
        match kind(params, ch)? {
            Kind::MultiSf => multi.push(ch.frequency),
            Kind::Std { bandwidth, sf } => {
                if std.replace((ch.frequency, bandwidth, sf)).is_some() {
                    return Err(Error::ChannelPlan("more than one single-SF channel"));
                }
            }
            Kind::Fsk { bitrate } => {
                if fsk.replace((ch.frequency, bitrate)).is_some() {
                    return Err(Error::ChannelPlan("more than one FSK channel"));
                }
            }
        }
    }
    if multi.len() > 8 {
        return Err(Error::ChannelPlan("more than eight multi-SF channels"));
    }
    multi.sort_unstable();
    multi.dedup();

    // Radio centres: each takes the longest run of channels that fits.
    let span = 2 * max_if(125_000) as u32;
    let mut radios: Vec<u32> = Vec::new();
    let mut assignment = Vec::with_capacity(multi.len());
    let mut i = 0;
    while i < multi.len() {
        let first = multi[i];
        let mut j = i;
        while j + 1 < multi.len() && multi[j + 1] - first <= span {
            j += 1;
        }
        if radios.len() == 2 {
            return Err(Error::ChannelPlan(
                "multi-SF channels need more than two radios",
            ));
        }
        let centre = first + (multi[j] - first) / 2;
        radios.push(centre);
        for f in &multi[i..=j] {
            assignment.push((*f, radios.len() - 1));
        }
        i = j + 1;
    }

    let mut conf = Sx1301Conf::default();
    let place = |freq: u32, bandwidth: u32, radios: &mut Vec<u32>| -> Result<(u8, i32), Error> {
        for (r, centre) in radios.iter().enumerate() {
            let off = i64::from(freq) - i64::from(*centre);
            if off.abs() <= max_if(bandwidth) {
                return Ok((r as u8, off as i32));
            }
        }
        if radios.len() < 2 {
            radios.push(freq);
            return Ok((radios.len() as u8 - 1, 0));
        }
        Err(Error::ChannelPlan(
            "a channel is out of reach of both radios",
        ))
    };
    if let Some((freq, bandwidth, sf)) = std {
        let (radio, if_freq) = place(freq, bandwidth, &mut radios)?;
        conf.chan_lora_std = IfChannel {
            enable: true,
            radio,
            if_freq,
            bandwidth: Some(bandwidth),
            spread_factor: Some(sf),
            datarate: None,
        };
    }
    if let Some((freq, bitrate)) = fsk {
        let (radio, if_freq) = place(freq, 125_000, &mut radios)?;
        conf.chan_fsk = IfChannel {
            enable: true,
            radio,
            if_freq,
            bandwidth: Some(125_000),
            spread_factor: None,
            datarate: Some(bitrate),
        };
    }
    let slots = [
        &mut conf.chan_multi_sf_0,
        &mut conf.chan_multi_sf_1,
        &mut conf.chan_multi_sf_2,
        &mut conf.chan_multi_sf_3,
        &mut conf.chan_multi_sf_4,
        &mut conf.chan_multi_sf_5,
        &mut conf.chan_multi_sf_6,
        &mut conf.chan_multi_sf_7,
    ];
    for (slot, (freq, r)) in slots.into_iter().zip(assignment) {
        *slot = IfChannel {
            enable: true,
            radio: r as u8,
            if_freq: (i64::from(freq) - i64::from(radios[r])) as i32,
            ..Default::default()
        };
    }
    for (r, centre) in radios.iter().enumerate() {
        let radio = Radio {
            enable: true,
            freq: *centre,
        };
        if r == 0 {
            conf.radio_0 = radio;
        } else {
            conf.radio_1 = radio;
        }
    }
    Ok(conf)
}

impl RouterConfig {
    /// The `router_config` for the region's uplink channels in `enabled`
    /// (indices as [`RegionParams::uplink_channel`] numbers them: the grid of a
    /// fixed plan, the default channels of a dynamic one).
    ///
    /// ```
    /// use lorawan::region::{params, ChannelSet, Region, Revision};
    /// use packet_forwarder::basic_station::{RouterConfig, RouterConfigOptions};
    /// let us = params(Region::Us915, Revision::Rp002_1_0_4);
    /// // Sub-band 2: channels 8–15 and the 500 kHz channel 65.
    /// let enabled = ChannelSet::from_indices((8..16).chain([65])).unwrap();
    /// let rc = RouterConfig::new(us, &enabled, &RouterConfigOptions::default())?;
    /// assert_eq!(rc.region, "US902");
    /// assert_eq!(rc.drs[4], [8, 500, 0]);
    /// assert_eq!(rc.drs[8], [12, 500, 1]);
    /// # Ok::<(), packet_forwarder::basic_station::Error>(())
    /// ```
    pub fn new(
        params: &RegionParams,
        enabled: &ChannelSet,
        options: &RouterConfigOptions,
    ) -> Result<Self, Error> {
        let channels: Vec<Channel> = enabled
            .iter()
            .map(|i| {
                params
                    .uplink_channel(i)
                    .ok_or(Error::ChannelPlan("an enabled channel is not defined"))
            })
            .collect::<Result<_, _>>()?;
        Self::with_channels(params, &channels, options)
    }

    /// The `router_config` for explicit uplink channels (a dynamic plan's
    /// default channels plus those added by NewChannelReq or CFList).
    pub fn with_channels(
        params: &RegionParams,
        channels: &[Channel],
        options: &RouterConfigOptions,
    ) -> Result<Self, Error> {
        let (lo, hi) = params.region.band();
        Ok(Self {
            net_id: (!options.net_ids.is_empty())
                .then(|| options.net_ids.iter().map(|n| n.to_u32()).collect()),
            join_eui: (!options.join_eui_ranges.is_empty()).then(|| {
                options
                    .join_eui_ranges
                    .iter()
                    .map(|(a, b)| [a.to_u64(), b.to_u64()])
                    .collect()
            }),
            region: station_region_name(params.region).into(),
            hwspec: "sx1301/1".into(),
            freq_range: [lo, hi],
            drs: dr_table(params),
            sx1301_conf: vec![sx1301_conf(params, channels)?],
            max_eirp: options.max_eirp,
            nocca: options.nocca,
            nodc: options.nodc,
            nodwell: options.nodwell,
            mux_time: None,
        })
    }
}
