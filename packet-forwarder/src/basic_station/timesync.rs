//! `timesync`: GPS time for stations without PPS, in both directions.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Seconds from the Unix epoch to the GPS epoch (1980-01-06 00:00:00 UTC).
const GPS_EPOCH_UNIX_S: u64 = 315_964_800;
/// GPS − UTC since 2017-01-01.
const LEAP_SECONDS: u64 = 18;

/// The station's request: its monotonic µs clock when it sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimesyncRequest {
    /// Station µs.
    pub txtime: i64,
}

/// The LNS's answer: the request's `txtime` and the GPS time when answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimesyncResponse {
    /// The request's `txtime`.
    pub txtime: i64,
    /// µs since the GPS epoch.
    pub gpstime: i64,
}

/// LNS-initiated time transfer: this `xtime` (of a recent uplink) happened at
/// this GPS time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeTransfer {
    /// Concentrator time.
    pub xtime: i64,
    /// µs since the GPS epoch.
    pub gpstime: i64,
}

/// µs since the GPS epoch of a Unix time (UTC, leap seconds as of 2017).
///
/// ```
/// use std::time::Duration;
/// use packet_forwarder::basic_station::gps_time_us;
/// // 2017-01-01T00:00:00Z: 1167264018 GPS seconds.
/// assert_eq!(gps_time_us(Duration::from_secs(1_483_228_800)), 1_167_264_018_000_000);
/// ```
pub fn gps_time_us(unix: Duration) -> i64 {
    let us = unix
        .as_micros()
        .saturating_sub(u128::from(GPS_EPOCH_UNIX_S) * 1_000_000)
        + u128::from(LEAP_SECONDS) * 1_000_000;
    i64::try_from(us).unwrap_or(i64::MAX)
}

impl TimesyncRequest {
    /// The answer at Unix time `unix`.
    pub fn respond(&self, unix: Duration) -> TimesyncResponse {
        TimesyncResponse {
            txtime: self.txtime,
            gpstime: gps_time_us(unix),
        }
    }
}
