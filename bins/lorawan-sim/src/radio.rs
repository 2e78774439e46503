//! The simulated radio: who hears whom, how well, and whether a downlink
//! falls into a device's receive window. Pure functions of positions, radio
//! settings and times; the noise comes from the caller.
//!
//! The link budget is a log-distance path loss: `RSSI = TxPower −
//! (L₀ + 10·n·log₁₀(d / 1 m)) + X`, with `X` a normal shadowing term the
//! caller draws; the SNR is the RSSI over the noise floor of the channel.
//! A frame is heard when its SNR is above the demodulation floor of its
//! spreading factor (−7.5 dB at SF7 down to −20 dB at SF12, Semtech's
//! figures).
//!
//! ```
//! use lorawan_sim::radio::{Position, RadioModel};
//!
//! let model = RadioModel::default();
//! let gateway = Position::new(52.0, 5.0, 30.0);
//! let near = Position::new(52.001, 5.0, 1.0); // about 110 m away
//! let far = Position::new(53.0, 5.0, 1.0); // about 111 km away
//! let link = model.link(near.distance_m(&gateway), 7, 0.0).unwrap();
//! assert!(link.rssi > -100 && link.snr > 0.0);
//! assert!(model.link(far.distance_m(&gateway), 12, 0.0).is_none());
//! ```

use std::time::Duration;

/// A place on Earth.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct Position {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// Metres above sea level.
    #[serde(default)]
    pub altitude: f64,
}

impl Position {
    /// The position at `latitude`, `longitude` (degrees), `altitude` (m).
    pub const fn new(latitude: f64, longitude: f64, altitude: f64) -> Self {
        Self {
            latitude,
            longitude,
            altitude,
        }
    }

    /// The distance to `other` in metres: great circle (haversine) and
    /// height difference, at least one metre.
    pub fn distance_m(&self, other: &Self) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_000.0;
        let (lat1, lat2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.longitude - self.longitude).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        let ground = 2.0 * EARTH_RADIUS_M * a.sqrt().atan2((1.0 - a).sqrt());
        let height = other.altitude - self.altitude;
        ground.hypot(height).max(1.0)
    }

    /// The position `north_m` metres north and `east_m` metres east of
    /// this one (a flat-Earth step, fine over a few kilometres).
    pub fn offset(&self, north_m: f64, east_m: f64) -> Self {
        // One degree of the same sphere as `distance_m`'s.
        const METRES_PER_DEGREE: f64 = 6_371_000.0 * std::f64::consts::PI / 180.0;
        let cos_lat = self.latitude.to_radians().cos().max(1e-6);
        Self {
            latitude: self.latitude + north_m / METRES_PER_DEGREE,
            longitude: self.longitude + east_m / (METRES_PER_DEGREE * cos_lat),
            altitude: self.altitude,
        }
    }
}

/// The radio environment.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RadioModel {
    /// Transmit power of devices and gateways, dBm EIRP.
    pub tx_power_dbm: f64,
    /// Path loss at one metre, dB.
    pub reference_loss_db: f64,
    /// Path-loss exponent (2: free space, 2.7 to 3.5: urban).
    pub path_loss_exponent: f64,
    /// Noise floor of a 125 kHz channel, dBm.
    pub noise_floor_dbm: f64,
    /// Standard deviation of the shadowing, dB (0: none).
    pub shadowing_db: f64,
}

impl Default for RadioModel {
    fn default() -> Self {
        Self {
            tx_power_dbm: 14.0,
            reference_loss_db: 31.0,
            path_loss_exponent: 2.7,
            noise_floor_dbm: -117.0,
            shadowing_db: 0.0,
        }
    }
}

/// How a frame is received.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// dBm.
    pub rssi: i16,
    /// dB.
    pub snr: f32,
}

/// The lowest SNR at which a LoRa frame of spreading factor `sf` is
/// demodulated, dB.
pub fn demodulation_floor_db(sf: u8) -> f64 {
    match sf {
        0..=6 => -5.0,
        7 => -7.5,
        8 => -10.0,
        9 => -12.5,
        10 => -15.0,
        11 => -17.5,
        _ => -20.0,
    }
}

impl RadioModel {
    /// The link over `distance_m` at spreading factor `sf`, with
    /// `standard_normal` a draw of N(0, 1) for the shadowing; `None` if the
    /// frame is not heard.
    pub fn link(&self, distance_m: f64, sf: u8, standard_normal: f64) -> Option<Link> {
        if !distance_m.is_finite() {
            return None;
        }
        let loss = self.reference_loss_db
            + 10.0 * self.path_loss_exponent * distance_m.max(1.0).log10()
            - self.shadowing_db * standard_normal;
        let rssi = self.tx_power_dbm - loss;
        let snr = rssi - self.noise_floor_dbm;
        if !snr.is_finite() || snr < demodulation_floor_db(sf) {
            return None;
        }
        Some(Link {
            rssi: rssi.clamp(-200.0, 0.0).round() as i16,
            // The concentrator reports the SNR up to about +13.5 dB.
            snr: snr.min(13.5) as f32,
        })
    }
}

/// How far from the expected time a downlink may start and still be
/// received: timers of the simulation (tokio, milliseconds) and of the
/// gateway's counter (microseconds) meet within this.
pub const WINDOW_TOLERANCE: Duration = Duration::from_millis(50);

/// Whether a downlink starting `sent_after` the uplink's end falls into a
/// window opening `window_after` it.
pub fn in_window(window_after: Duration, sent_after: Duration) -> bool {
    window_after.abs_diff(sent_after) <= WINDOW_TOLERANCE
}

/// A standard normal draw from two uniform draws in (0, 1] (Box–Muller).
pub fn standard_normal(u1: f64, u2: f64) -> f64 {
    let u1 = u1.clamp(f64::MIN_POSITIVE, 1.0);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kilometre_is_a_kilometre() {
        let a = Position::new(52.0, 5.0, 0.0);
        let b = a.offset(1_000.0, 0.0);
        assert!((a.distance_m(&b) - 1_000.0).abs() < 1.0);
        let c = a.offset(0.0, 1_000.0);
        assert!((a.distance_m(&c) - 1_000.0).abs() < 2.0);
        // Height counts; the same place is one metre away.
        let up = Position::new(52.0, 5.0, 100.0);
        assert!((a.distance_m(&up) - 100.0).abs() < 1e-6);
        assert_eq!(a.distance_m(&a), 1.0);
    }

    #[test]
    fn the_link_weakens_with_distance_and_fails_past_the_floor() {
        let m = RadioModel::default();
        let near = m.link(100.0, 7, 0.0).unwrap();
        let far = m.link(2_000.0, 7, 0.0).unwrap();
        assert!(near.rssi > far.rssi);
        // 14 dBm − (31 + 27·log₁₀ 2000) ≈ −106 dBm: SNR ≈ 11 dB.
        assert_eq!(far.rssi, -106);
        assert!((far.snr - 10.9).abs() < 0.2, "{far:?}");
        // SF12 reaches further than SF7.
        let d = 12_000.0;
        assert!(m.link(d, 7, 0.0).is_none());
        assert!(m.link(d, 12, 0.0).is_some());
        // Shadowing: a deep fade loses the frame.
        let shadowed = RadioModel {
            shadowing_db: 8.0,
            ..m
        };
        assert!(shadowed.link(5_000.0, 7, -3.0).is_none());
        assert!(shadowed.link(5_000.0, 7, 3.0).is_some());
        // NaN never passes.
        assert!(m.link(f64::NAN, 7, 0.0).is_none());
    }

    #[test]
    fn windows_take_what_starts_on_time_only() {
        let rx1 = Duration::from_secs(1);
        assert!(in_window(rx1, rx1));
        assert!(in_window(rx1, rx1 + Duration::from_millis(40)));
        assert!(in_window(rx1, rx1 - Duration::from_millis(40)));
        assert!(!in_window(rx1, rx1 + Duration::from_millis(60)));
        assert!(!in_window(rx1, Duration::from_secs(2)));
    }

    #[test]
    fn box_muller_is_centred() {
        let n = 10_000;
        let mut sum = 0.0;
        let mut sq = 0.0;
        for i in 0..n {
            let u1 = (f64::from(i) + 0.5) / f64::from(n);
            let u2 = ((f64::from(i) * 0.618_034) % 1.0 + 1.0) % 1.0;
            let z = standard_normal(u1, u2);
            sum += z;
            sq += z * z;
        }
        let mean = sum / f64::from(n);
        let var = sq / f64::from(n) - mean * mean;
        assert!(mean.abs() < 0.05, "{mean}");
        assert!((var - 1.0).abs() < 0.1, "{var}");
    }
}
