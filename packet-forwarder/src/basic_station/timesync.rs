//! `timesync`: GPS time for stations without PPS, in both directions.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::RadioMetadata;

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
///
/// The station takes the pair as its GPS time reference outright (it sets
/// its GPS offset and PPS anchor from it), and keeps using it for GPS-timed
/// downlinks for up to 10 minutes (its `PPS_VALID_INTV`) without a PPS; this
/// is how a station without PPS learns GPS time at all, since its own
/// `timesync` requests need a PPS. A station with a PPS has GPS time of its
/// own, which a transfer would replace with a less accurate one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeTransfer {
    /// Concentrator time.
    pub xtime: i64,
    /// µs since the GPS epoch.
    pub gpstime: i64,
}

/// The longest round trip the midpoint estimate of
/// [`TimeTransfer::for_uplink`] trusts: the station itself ignores `timesync`
/// answers that took 2 s or more.
const MAX_ROUND_TRIP_US: f64 = 2e6;

impl TimeTransfer {
    /// The transfer for an uplink received at Unix time `unix` (the LNS
    /// clock); `None` if the uplink has no `xtime` (the station reads an
    /// `xtime` of 0 as "no transfer").
    ///
    /// The GPS time is the LNS clock's estimate of when the station encoded
    /// the uplink: the midpoint between `RefTime` (or, without one, `rxtime`)
    /// and `unix`. Both station fields are stamped when the uplink is
    /// encoded, on a clock the station sets from the LNS's `MuxTime`, so
    /// they run one downlink latency behind the LNS clock, while `unix` runs
    /// one uplink latency ahead: the midpoint cancels the symmetric part of
    /// the round trip. When neither field is present or the round trip is
    /// negative or 2 s or more, `unix` itself is used, which is what
    /// ChirpStack's bridge sends (its GPS time when it handles the uplink).
    ///
    /// The error is how late the estimate is: the time the frame waited in
    /// the station between reception (`xtime`) and encoding (radio polling,
    /// typically a few to some tens of ms), plus half the difference between
    /// uplink and downlink latency, plus the station's clock drift since its
    /// last `MuxTime`; with the fallback, the whole one-way latency instead
    /// of half the asymmetry. It is not µs-accurate: Class B on a station
    /// without PPS works only within that tolerance. An uplink's own
    /// `gpstime` is deliberately not echoed back: it is the station's
    /// extrapolation of an earlier reference, and sending it back as a new
    /// reference would carry its drift forward forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// use packet_forwarder::basic_station::{RadioMetadata, TimeTransfer, UpInfo, gps_time_us};
    /// let unix = Duration::from_secs(1_700_000_000);
    /// let radio = RadioMetadata {
    ///     dr: 5,
    ///     freq: 868_100_000,
    ///     // Stamped 80 ms before it reached the LNS: 40 ms each way.
    ///     ref_time: Some(1_699_999_999.92),
    ///     upinfo: UpInfo {
    ///         rctx: 0, xtime: 1 << 48, gpstime: None, fts: None,
    ///         rssi: -60.0, snr: 9.0, rxtime: None,
    ///     },
    /// };
    /// let t = TimeTransfer::for_uplink(&radio, unix).unwrap();
    /// assert_eq!(t.xtime, 1 << 48);
    /// assert_eq!(t.gpstime, gps_time_us(unix - Duration::from_millis(40)));
    /// ```
    pub fn for_uplink(radio: &RadioMetadata, unix: Duration) -> Option<Self> {
        let xtime = radio.upinfo.xtime;
        if xtime <= 0 {
            return None;
        }
        let unix_us = unix.as_micros() as f64;
        let station_us = [radio.ref_time, radio.upinfo.rxtime]
            .into_iter()
            .flatten()
            .find(|t| t.is_finite() && *t > 0.0)
            .map(|t| t * 1e6);
        let at_us = match station_us {
            Some(s) if (0.0..MAX_ROUND_TRIP_US).contains(&(unix_us - s)) => (s + unix_us) / 2.0,
            _ => unix_us,
        };
        // Non-negative and finite: `as` rounds toward zero and cannot overflow.
        let at = Duration::from_micros(at_us.round() as u64);
        Some(Self {
            xtime,
            gpstime: gps_time_us(at),
        })
    }
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
