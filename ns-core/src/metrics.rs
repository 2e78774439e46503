//! Time series kept in the database: what the gateways report in their
//! statistics, summed per minute, hour, day and month, for
//! `GatewayService.GetMetrics` and `GetDutyCycleMetrics`.
//!
//! A series belongs to a key (`gw:0102030405060708`) and has a name
//! (`rx_count`, `rx_freq_868100000`, `tx_status_TOO_LATE`). Each sample is
//! added to the bucket of each [`Aggregation`] it falls in, with the number
//! of samples, so that a bucket reads as a sum ([`Point::sum`](Point#structfield.sum), counts of
//! frames) or as a mean ([`Point::mean`], duty-cycle percentages). Buckets
//! are in UTC and kept for their aggregation's
//! [retention](Aggregation::retention), as ChirpStack keeps its Redis metrics: two
//! hours of minutes, two days of hours, about two months of days and two
//! years of months.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use ns_core::metrics::{Aggregation, buckets};
//!
//! let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let end = start + Duration::from_secs(3 * 3600);
//! // 22:13:20 to 01:13:20: four hour buckets, from 22:00.
//! let hours = buckets(Aggregation::Hour, start, end)?;
//! assert_eq!(hours.len(), 4);
//! assert_eq!(hours[0], 1_699_999_200);
//! # Ok::<(), ns_core::metrics::RangeError>(())
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use chrono::{Datelike, TimeZone, Utc};
use lorawan::Eui64;
use lorawan::region::RegionParams;
use packet_forwarder::gw;

use crate::downlink_timing;

/// The most buckets one read may span: a day of minutes is 1 440.
pub const MAX_BUCKETS: usize = 2_000;

/// The most series one family of a gateway's statistics may add
/// (frequencies, data rates, TX statuses, duty-cycle bands): a gateway
/// reporting more has the rest ignored.
pub const MAX_SERIES_PER_FAMILY: usize = 100;

/// The length of a bucket; the numbers are those of ChirpStack's
/// `common.Aggregation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Aggregation {
    /// Per hour (`HOUR`, 0).
    Hour = 0,
    /// Per day (`DAY`, 1).
    Day = 1,
    /// Per month (`MONTH`, 2).
    Month = 2,
    /// Per minute (`MINUTE`, 3).
    Minute = 3,
}

impl Aggregation {
    /// Every aggregation, each sample is added to all.
    pub const ALL: [Self; 4] = [Self::Minute, Self::Hour, Self::Day, Self::Month];

    /// The aggregation of a `common.Aggregation` number.
    pub fn from_i32(value: i32) -> Option<Self> {
        match value {
            0 => Some(Self::Hour),
            1 => Some(Self::Day),
            2 => Some(Self::Month),
            3 => Some(Self::Minute),
            _ => None,
        }
    }

    /// How long its buckets are kept.
    pub fn retention(self) -> Duration {
        const HOUR: u64 = 3600;
        const DAY: u64 = 24 * HOUR;
        Duration::from_secs(match self {
            Self::Minute => 2 * HOUR,
            Self::Hour => 2 * DAY,
            Self::Day => 62 * DAY,
            Self::Month => 2 * 366 * DAY,
        })
    }

    /// The start of the bucket holding `t`, in seconds since the Unix
    /// epoch (UTC).
    pub fn bucket_of(self, t: i64) -> i64 {
        match self {
            Self::Minute => t.saturating_sub(t.rem_euclid(60)),
            Self::Hour => t.saturating_sub(t.rem_euclid(3600)),
            Self::Day => t.saturating_sub(t.rem_euclid(86_400)),
            Self::Month => {
                let day = t.saturating_sub(t.rem_euclid(86_400));
                match Utc.timestamp_opt(day, 0).single() {
                    Some(at) => month_start(at.year(), at.month()).unwrap_or(day),
                    None => day,
                }
            }
        }
    }

    /// The start of the bucket after the one starting at `bucket`.
    fn next(self, bucket: i64) -> i64 {
        match self {
            Self::Minute => bucket.saturating_add(60),
            Self::Hour => bucket.saturating_add(3600),
            Self::Day => bucket.saturating_add(86_400),
            Self::Month => {
                let next = Utc.timestamp_opt(bucket, 0).single().and_then(|at| {
                    let (year, month) = if at.month() == 12 {
                        (at.year() + 1, 1)
                    } else {
                        (at.year(), at.month() + 1)
                    };
                    month_start(year, month)
                });
                // Out of chrono's range: step by a day, never backwards.
                next.unwrap_or(bucket.saturating_add(86_400))
            }
        }
    }
}

/// The first second of a month, UTC.
fn month_start(year: i32, month: u32) -> Option<i64> {
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .map(|at| at.timestamp())
}

/// Seconds since the Unix epoch (negative before it).
pub fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// A range a read cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// The end is before the start.
    #[error("the range ends before it starts")]
    Reversed,
    /// Too many buckets.
    #[error("the range spans {buckets} buckets of this aggregation, more than {max}")]
    TooLong {
        /// Buckets in the range (at least).
        buckets: usize,
        /// [`MAX_BUCKETS`].
        max: usize,
    },
}

/// The starts of the buckets from the one holding `start` to the one
/// holding `end`, in seconds since the Unix epoch.
///
/// # Errors
/// `end` before `start`, or more than [`MAX_BUCKETS`] buckets.
pub fn buckets(
    aggregation: Aggregation,
    start: SystemTime,
    end: SystemTime,
) -> Result<Vec<i64>, RangeError> {
    let (start, end) = (unix_secs(start), unix_secs(end));
    if end < start {
        return Err(RangeError::Reversed);
    }
    let last = aggregation.bucket_of(end);
    let mut bucket = aggregation.bucket_of(start);
    let mut all = Vec::new();
    while bucket <= last {
        if all.len() == MAX_BUCKETS {
            return Err(RangeError::TooLong {
                buckets: MAX_BUCKETS + 1,
                max: MAX_BUCKETS,
            });
        }
        all.push(bucket);
        let next = aggregation.next(bucket);
        if next <= bucket {
            // The end of time.
            break;
        }
        bucket = next;
    }
    Ok(all)
}

/// One series in one bucket: the sum of its samples and their number.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    /// The samples added up.
    pub sum: f64,
    /// How many samples.
    pub count: u64,
}

impl Point {
    /// The mean of the samples (percentages), 0 without samples.
    pub fn mean(self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }
}

/// The stored series of a key over a range: bucket start (seconds) →
/// series name → point.
pub type Series = BTreeMap<i64, BTreeMap<String, Point>>;

/// The samples of one report, by series name.
pub type Samples = BTreeMap<String, f64>;

/// The key of a gateway's frame counts.
pub fn gateway_key(gateway_id: Eui64) -> String {
    format!("gw:{gateway_id}")
}

/// The key of a gateway's duty-cycle load.
pub fn duty_cycle_key(gateway_id: Eui64) -> String {
    format!("gw-dc:{gateway_id}")
}

/// What a gateway's statistics add to its frame counts, as ChirpStack
/// names them: `rx_count` (frames received with a good CRC), `tx_count`
/// (frames sent), `rx_freq_{Hz}`, `tx_freq_{Hz}`, `rx_dr_{DR}` and
/// `tx_dr_{DR}` (the modulation as a data rate of the gateway's region,
/// uplink and downlink tables; skipped without a region or for a
/// modulation the region does not have) and `tx_status_{TxAckStatus}`.
/// Each family keeps at most [`MAX_SERIES_PER_FAMILY`] series.
pub fn gateway_samples(region: Option<&RegionParams>, stats: &gw::GatewayStats) -> Samples {
    let mut samples = Samples::new();
    samples.insert("rx_count".into(), stats.rx_packets_received_ok.into());
    samples.insert("tx_count".into(), stats.tx_packets_emitted.into());
    let families = [
        ("rx_freq_", &stats.rx_packets_per_frequency),
        ("tx_freq_", &stats.tx_packets_per_frequency),
    ];
    for (prefix, counts) in families {
        add_family(
            &mut samples,
            counts
                .iter()
                .map(|(frequency, n)| (format!("{prefix}{frequency}"), f64::from(*n))),
        );
    }
    if let Some(params) = region {
        let families = [
            ("rx_dr_", &stats.rx_packets_per_modulation, true),
            ("tx_dr_", &stats.tx_packets_per_modulation, false),
        ];
        for (prefix, counts, uplink) in families {
            add_family(
                &mut samples,
                counts.iter().filter_map(|c| {
                    let modulation = downlink_timing::modulation(c.modulation.as_ref()?).ok()?;
                    let dr = params.data_rate_index(&modulation, uplink)?;
                    Some((format!("{prefix}{dr}"), f64::from(c.count)))
                }),
            );
        }
    }
    add_family(
        &mut samples,
        stats
            .tx_packets_per_status
            .iter()
            .map(|(status, n)| (format!("tx_status_{status}"), f64::from(*n))),
    );
    samples
}

/// What a gateway's statistics add to its duty-cycle load, per band
/// (`{name}` as the gateway names it): `max_load_{name}`, the band's
/// allowed airtime, and `load_{name}`, the airtime it used, both in
/// percent of the tracking window. Empty without duty-cycle statistics or
/// with a zero window.
pub fn duty_cycle_samples(stats: &gw::GatewayStats) -> Samples {
    let mut samples = Samples::new();
    let Some(dc) = &stats.duty_cycle_stats else {
        return samples;
    };
    let window = dc.window.as_ref().map_or(0.0, seconds);
    if window <= 0.0 {
        return samples;
    }
    let percent =
        |d: &Option<pbjson_types::Duration>| d.as_ref().map_or(0.0, seconds) / window * 100.0;
    add_family(
        &mut samples,
        dc.bands.iter().flat_map(|band| {
            [
                (format!("max_load_{}", band.name), percent(&band.load_max)),
                (format!("load_{}", band.name), percent(&band.load_tracked)),
            ]
        }),
    );
    samples
}

/// A protobuf duration in seconds (negative ones as 0).
fn seconds(d: &pbjson_types::Duration) -> f64 {
    (d.seconds as f64 + f64::from(d.nanos) / 1e9).max(0.0)
}

/// Adds the series of one family, summing repeated names (two modulations
/// of one data rate), up to [`MAX_SERIES_PER_FAMILY`] names; non-finite
/// values are skipped.
fn add_family(samples: &mut Samples, family: impl Iterator<Item = (String, f64)>) {
    let mut names = 0;
    for (name, value) in family {
        if !value.is_finite() {
            continue;
        }
        if let Some(sum) = samples.get_mut(&name) {
            *sum += value;
            continue;
        }
        if names == MAX_SERIES_PER_FAMILY {
            continue;
        }
        names += 1;
        samples.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use lorawan::region::{Region, Revision, params};

    fn at(rfc3339: &str) -> SystemTime {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().into()
    }

    fn secs(rfc3339: &str) -> i64 {
        unix_secs(at(rfc3339))
    }

    #[test]
    fn buckets_start_at_the_aggregation_boundary_in_utc() {
        let t = secs("2026-11-26T08:39:49Z");
        assert_eq!(
            Aggregation::Minute.bucket_of(t),
            secs("2026-11-26T08:39:00Z")
        );
        assert_eq!(Aggregation::Hour.bucket_of(t), secs("2026-11-26T08:00:00Z"));
        assert_eq!(Aggregation::Day.bucket_of(t), secs("2026-11-26T00:00:00Z"));
        assert_eq!(
            Aggregation::Month.bucket_of(t),
            secs("2026-11-01T00:00:00Z")
        );
        // Before the epoch too.
        assert_eq!(Aggregation::Minute.bucket_of(-1), -60);
    }

    #[test]
    fn month_buckets_follow_the_calendar() {
        let months = buckets(
            Aggregation::Month,
            at("2025-11-15T00:00:00Z"),
            at("2026-03-01T00:00:00Z"),
        )
        .unwrap();
        let expected: Vec<i64> = [
            "2025-11-01T00:00:00Z",
            "2025-12-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
            "2026-02-01T00:00:00Z",
            "2026-03-01T00:00:00Z",
        ]
        .iter()
        .map(|s| secs(s))
        .collect();
        assert_eq!(months, expected);
    }

    #[test]
    fn ranges_are_checked() {
        let start = at("2026-11-26T00:00:00Z");
        assert_eq!(
            buckets(Aggregation::Hour, start, start - Duration::from_secs(1)),
            Err(RangeError::Reversed)
        );
        assert_eq!(
            buckets(Aggregation::Minute, start, start).unwrap(),
            vec![unix_secs(start)]
        );
        let day_of_minutes = buckets(
            Aggregation::Minute,
            start,
            start + Duration::from_secs(86_399),
        )
        .unwrap();
        assert_eq!(day_of_minutes.len(), 1_440);
        assert!(matches!(
            buckets(
                Aggregation::Minute,
                start,
                start + Duration::from_secs(30 * 86_400)
            ),
            Err(RangeError::TooLong { .. })
        ));
        // The far ends of time neither panic nor loop.
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 40);
        assert!(buckets(Aggregation::Month, SystemTime::UNIX_EPOCH, far).is_err());
        let farther = SystemTime::UNIX_EPOCH + Duration::from_secs(i64::MAX as u64);
        for aggregation in Aggregation::ALL {
            assert!(buckets(aggregation, farther - Duration::from_secs(1 << 10), farther).is_ok());
            aggregation.bucket_of(i64::MIN);
        }
    }

    #[test]
    fn every_aggregation_round_trips_its_number() {
        for aggregation in Aggregation::ALL {
            assert_eq!(Aggregation::from_i32(aggregation as i32), Some(aggregation));
        }
        assert_eq!(Aggregation::from_i32(4), None);
    }

    fn lora(spreading_factor: u32, bandwidth: u32) -> Option<gw::Modulation> {
        Some(gw::Modulation {
            parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
                bandwidth,
                spreading_factor,
                ..Default::default()
            })),
        })
    }

    #[test]
    fn gateway_stats_become_chirpstack_series() {
        let eu = params(Region::Eu868, Revision::Rp002_1_0_4);
        let stats = gw::GatewayStats {
            rx_packets_received: 12,
            rx_packets_received_ok: 10,
            tx_packets_emitted: 3,
            rx_packets_per_frequency: [(868_100_000, 6), (868_300_000, 4)].into(),
            tx_packets_per_frequency: [(869_525_000, 3)].into(),
            rx_packets_per_modulation: vec![
                gw::PerModulationCount {
                    modulation: lora(7, 125_000),
                    count: 7,
                },
                gw::PerModulationCount {
                    modulation: lora(12, 125_000),
                    count: 3,
                },
                // Not an EU868 data rate: skipped.
                gw::PerModulationCount {
                    modulation: lora(7, 500_000),
                    count: 9,
                },
            ],
            tx_packets_per_modulation: vec![gw::PerModulationCount {
                modulation: lora(12, 125_000),
                count: 3,
            }],
            tx_packets_per_status: [("OK".to_owned(), 3), ("TOO_LATE".to_owned(), 1)].into(),
            ..Default::default()
        };
        let samples = gateway_samples(Some(eu), &stats);
        let expected: Samples = [
            ("rx_count", 10.0),
            ("tx_count", 3.0),
            ("rx_freq_868100000", 6.0),
            ("rx_freq_868300000", 4.0),
            ("tx_freq_869525000", 3.0),
            ("rx_dr_5", 7.0),
            ("rx_dr_0", 3.0),
            ("tx_dr_0", 3.0),
            ("tx_status_OK", 3.0),
            ("tx_status_TOO_LATE", 1.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(samples, expected);
        // Without a region, no data rates.
        assert!(!gateway_samples(None, &stats).contains_key("rx_dr_5"));
    }

    #[test]
    fn a_family_is_bounded_and_repeated_names_add_up() {
        let stats = gw::GatewayStats {
            rx_packets_per_frequency: (0..1_000u32).map(|f| (f, 1)).collect(),
            ..Default::default()
        };
        let samples = gateway_samples(None, &stats);
        let frequencies = samples.keys().filter(|k| k.starts_with("rx_freq_")).count();
        assert_eq!(frequencies, MAX_SERIES_PER_FAMILY);
        let mut samples = Samples::new();
        add_family(
            &mut samples,
            [
                ("a".to_owned(), 1.0),
                ("a".to_owned(), 2.0),
                ("b".to_owned(), f64::NAN),
            ]
            .into_iter(),
        );
        assert_eq!(samples, [("a".to_owned(), 3.0)].into());
    }

    #[test]
    fn duty_cycle_in_percent_of_the_window() {
        let duration = |seconds| Some(pbjson_types::Duration { seconds, nanos: 0 });
        let stats = gw::GatewayStats {
            duty_cycle_stats: Some(gw::DutyCycleStats {
                window: duration(3600),
                bands: vec![gw::DutyCycleBand {
                    name: "g1".into(),
                    load_max: duration(36),
                    load_tracked: duration(9),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let samples = duty_cycle_samples(&stats);
        assert_eq!(samples["max_load_g1"], 1.0);
        assert_eq!(samples["load_g1"], 0.25);
        let mut zero = stats.clone();
        zero.duty_cycle_stats.as_mut().unwrap().window = duration(0);
        assert!(duty_cycle_samples(&zero).is_empty());
        assert!(duty_cycle_samples(&gw::GatewayStats::default()).is_empty());
    }

    #[test]
    fn points_read_as_sums_or_means() {
        let p = Point { sum: 6.0, count: 3 };
        assert_eq!(p.mean(), 2.0);
        assert_eq!(Point::default().mean(), 0.0);
    }
}
