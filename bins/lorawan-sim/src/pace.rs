//! Load runs: a target uplink rate for the whole simulation, reached over
//! a ramp-up and held, or a sweep of rates one after the other, each
//! measured by what the application received.
//!
//! [`drive`] runs a [`LoadPlan`] against a paced simulation
//! ([`Progress::paced`], run by [`sim::run`](crate::sim::run) at the same
//! time): it waits for the devices to join, then triggers uplinks at the
//! rate of the moment (joined devices in turn), waits after each step for
//! its last events, and stops at the first step under the delivery goal.
//!
//! A device sends nothing before its last uplink's receive windows have
//! closed (RX2, 2 s after the uplink by default), as a class A device
//! must; so a rate needs at least rate × 2.1 s devices (21 000 for
//! 10 000 uplinks a second). Uplinks due while no device is ready are
//! counted as [`Step::missed`].
//!
//! ```
//! use std::time::Duration;
//! use lorawan_sim::pace::LoadPlan;
//!
//! let mut plan = LoadPlan::default();
//! plan.rates = vec![100, 200];
//! plan.ramp_up = Duration::from_secs(2);
//! assert!(plan.check().is_ok());
//! // Half the ramp at 100/s climbing to 200/s: 100 × 1 + 50 × 1.
//! assert_eq!(plan.due(100, 200, Duration::from_secs(1)), 125);
//! assert_eq!(plan.due(0, 100, Duration::from_secs(12)), 1_100);
//! ```

use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::events::Delivery;
use crate::sim::Progress;

/// The most uplinks per second a plan may ask for.
pub const MAX_RATE: u32 = 1_000_000;

/// How a load run goes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LoadPlan {
    /// Uplinks per second from all devices together; several: a sweep,
    /// in this order.
    pub rates: Vec<u32>,
    /// The climb to each rate from the one before (from 0 for the first).
    #[serde(deserialize_with = "config_text::duration")]
    pub ramp_up: Duration,
    /// How long each rate is held after its climb.
    #[serde(deserialize_with = "config_text::duration")]
    pub hold: Duration,
    /// The longest wait after each step for its last events.
    #[serde(deserialize_with = "config_text::duration")]
    pub settle: Duration,
    /// A sweep stops after the first step delivering less than this share
    /// of its uplinks (0 to 1).
    pub stop_below: f64,
    /// The longest wait for every device to join before the first step
    /// (it then starts with those that have).
    #[serde(deserialize_with = "config_text::duration")]
    pub join_timeout: Duration,
    /// A first step of this length at `warm_up_rate`, reported but never
    /// ending the run: every device's first uplinks (a server's cold
    /// sessions, its MAC-command exchanges) before the measured steps.
    #[serde(deserialize_with = "config_text::duration")]
    pub warm_up: Duration,
    /// The warm-up's rate (0: the first rate's).
    pub warm_up_rate: u32,
}

impl Default for LoadPlan {
    fn default() -> Self {
        Self {
            rates: vec![100],
            ramp_up: Duration::ZERO,
            hold: Duration::from_secs(10),
            settle: Duration::from_secs(5),
            stop_below: 0.99,
            join_timeout: Duration::from_secs(60),
            warm_up: Duration::ZERO,
            warm_up_rate: 0,
        }
    }
}

impl LoadPlan {
    /// Why the plan cannot run, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.rates.is_empty() {
            return Err("load.rates: at least one rate".into());
        }
        if let Some(r) = self.rates.iter().find(|&&r| r == 0 || r > MAX_RATE) {
            return Err(format!("load.rates: {r} is not 1 to {MAX_RATE} per second"));
        }
        if self.hold < Duration::from_secs(1) {
            return Err("load.hold: at least 1 s".into());
        }
        if self.warm_up_rate > MAX_RATE {
            return Err(format!(
                "load.warm_up_rate: {} is over {MAX_RATE} per second",
                self.warm_up_rate
            ));
        }
        if !(0.0..=1.0).contains(&self.stop_below) {
            return Err(format!(
                "load.stop_below: {} is not 0 to 1",
                self.stop_below
            ));
        }
        Ok(())
    }

    /// The longest the plan can take, joins included.
    pub fn longest(&self) -> Duration {
        let step = self.ramp_up + self.hold + self.settle;
        let warm_up = if self.warm_up.is_zero() {
            Duration::ZERO
        } else {
            self.ramp_up + self.warm_up + self.settle
        };
        self.join_timeout + warm_up + step * u32::try_from(self.rates.len()).unwrap_or(u32::MAX)
    }

    /// The uplinks due `elapsed` into a step climbing from `from` to `to`
    /// per second over the ramp-up, then holding `to`.
    pub fn due(&self, from: u32, to: u32, elapsed: Duration) -> u64 {
        let (from, to) = (f64::from(from), f64::from(to));
        let ramp = self.ramp_up.as_secs_f64();
        let t = elapsed.as_secs_f64();
        let n = if t < ramp {
            from * t + (to - from) * t * t / (2.0 * ramp)
        } else {
            (from + to) / 2.0 * ramp + to * (t - ramp)
        };
        n.max(0.0) as u64
    }
}

/// What [`drive`] reports as it goes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LoadEvent {
    /// Waiting for devices to join.
    Joining {
        /// Joined so far.
        joined: usize,
        /// Devices in all.
        devices: usize,
    },
    /// A step begins.
    StepStart {
        /// Its target rate.
        rate: u32,
    },
    /// A step is running (four times a second).
    Running {
        /// Its target rate.
        rate: u32,
        /// The rate of the last second.
        current: f64,
        /// Its uplinks so far, and their delivery so far.
        delivery: Delivery,
    },
    /// A step waits for its last events.
    Settling {
        /// Uplinks not yet reported.
        in_flight: usize,
    },
    /// A step has ended.
    StepEnd(Step),
}

/// One step's figures.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Step {
    /// The target rate.
    pub rate: u32,
    /// The rate held (uplinks sent after the climb, per second).
    pub achieved: f64,
    /// Its uplinks: sent, delivered, latency.
    pub delivery: Delivery,
    /// Uplinks that could not be sent: no device was ready (joined, its
    /// last receive windows closed).
    pub missed: u64,
    /// How long the step took, its settling included.
    pub elapsed: Duration,
    /// The warm-up (not a measured step).
    pub warm_up: bool,
}

/// Runs `plan` against the paced simulation behind `progress`, telling
/// `watch` what happens, then stops the simulation. Returns every step
/// run.
pub async fn drive(
    plan: &LoadPlan,
    progress: &Progress,
    mut watch: impl FnMut(LoadEvent),
) -> Vec<Step> {
    let tick = Duration::from_millis(250);
    // Joins.
    let deadline = Instant::now() + plan.join_timeout;
    while Instant::now() < deadline
        && (progress.devices() == 0 || progress.joined() < progress.devices())
    {
        watch(LoadEvent::Joining {
            joined: progress.joined(),
            devices: progress.devices(),
        });
        tokio::time::sleep(tick).await;
    }
    watch(LoadEvent::Joining {
        joined: progress.joined(),
        devices: progress.devices(),
    });
    progress.end_step();

    let mut steps = Vec::new();
    let mut from = 0;
    if !plan.warm_up.is_zero() {
        let rate = match plan.warm_up_rate {
            0 => plan.rates.first().copied().unwrap_or(1),
            r => r,
        };
        watch(LoadEvent::StepStart { rate });
        let mut step = run_step(plan, progress, (0, rate), plan.warm_up, tick, &mut watch).await;
        step.warm_up = true;
        watch(LoadEvent::StepEnd(step.clone()));
        steps.push(step);
        from = rate;
    }
    for &rate in &plan.rates {
        watch(LoadEvent::StepStart { rate });
        let step = run_step(plan, progress, (from, rate), plan.hold, tick, &mut watch).await;
        let ok = step.delivery.ratio() >= plan.stop_below;
        watch(LoadEvent::StepEnd(step.clone()));
        steps.push(step);
        if !ok {
            break;
        }
        from = rate;
    }
    progress.stop();
    steps
}

/// A step climbing `(from, to)` over the ramp-up, then held for `hold`.
async fn run_step(
    plan: &LoadPlan,
    progress: &Progress,
    (from, rate): (u32, u32),
    hold: Duration,
    tick: Duration,
    watch: &mut impl FnMut(LoadEvent),
) -> Step {
    let start = Instant::now();
    let length = plan.ramp_up + hold;
    let mut interval = tokio::time::interval(Duration::from_millis(2));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut done, mut missed) = (0u64, 0u64);
    let mut held_from: Option<(Instant, u64)> = None;
    let mut last_report = start;
    let mut window = std::collections::VecDeque::from([(start, progress.sent())]);
    loop {
        interval.tick().await;
        let now = Instant::now();
        let elapsed = now - start;
        if elapsed >= length {
            break;
        }
        if held_from.is_none() && elapsed >= plan.ramp_up {
            held_from = Some((now, progress.sent()));
        }
        let due = plan.due(from, rate, elapsed);
        while done < due {
            done += 1;
            if !progress.trigger() {
                // No device is ready: none will be before the next tick
                // (a trigger scans them all; not once per uplink due).
                missed += due - done + 1;
                done = due;
            }
        }
        if now - last_report >= tick {
            last_report = now;
            window.push_back((now, progress.sent()));
            while window.len() > 5 {
                window.pop_front();
            }
            let current = match (window.front(), window.back()) {
                (Some(&(t0, n0)), Some(&(t1, n1))) if t1 > t0 => {
                    (n1 - n0) as f64 / (t1 - t0).as_secs_f64()
                }
                _ => 0.0,
            };
            watch(LoadEvent::Running {
                rate,
                current,
                delivery: progress.step_so_far(),
            });
        }
    }
    let end = Instant::now();
    let achieved = match held_from {
        Some((t, n)) if end > t => (progress.sent() - n) as f64 / (end - t).as_secs_f64(),
        _ => 0.0,
    };
    // The last uplinks' windows and the server's de-duplication: then wait
    // for what is still in flight, up to the settle time.
    let settle_end = end + plan.settle;
    while Instant::now() < settle_end && progress.in_flight() > 0 {
        watch(LoadEvent::Settling {
            in_flight: progress.in_flight(),
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Step {
        rate,
        achieved,
        delivery: progress.end_step(),
        missed,
        elapsed: start.elapsed(),
        warm_up: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ramp_is_linear_and_the_hold_constant() {
        let plan = LoadPlan {
            ramp_up: Duration::from_secs(10),
            ..LoadPlan::default()
        };
        // 0 → 1000/s over 10 s: 5 000 uplinks, then 1 000 a second.
        assert_eq!(plan.due(0, 1000, Duration::ZERO), 0);
        assert_eq!(plan.due(0, 1000, Duration::from_secs(5)), 1_250);
        assert_eq!(plan.due(0, 1000, Duration::from_secs(10)), 5_000);
        assert_eq!(plan.due(0, 1000, Duration::from_secs(12)), 7_000);
        // Down from 1000 to 500.
        assert_eq!(plan.due(1000, 500, Duration::from_secs(10)), 7_500);
        // No ramp: the rate from the start.
        let flat = LoadPlan::default();
        assert_eq!(flat.due(0, 1000, Duration::from_millis(1500)), 1_500);
    }

    #[test]
    fn plans_are_checked() {
        let ok = LoadPlan::default();
        assert!(ok.check().is_ok());
        let bad = |f: &dyn Fn(&mut LoadPlan)| {
            let mut p = LoadPlan::default();
            f(&mut p);
            p.check().unwrap_err()
        };
        assert!(bad(&|p| p.rates.clear()).contains("rates"));
        assert!(bad(&|p| p.rates = vec![0]).contains("rates"));
        assert!(bad(&|p| p.rates = vec![MAX_RATE + 1]).contains("rates"));
        assert!(bad(&|p| p.hold = Duration::ZERO).contains("hold"));
        assert!(bad(&|p| p.stop_below = 1.5).contains("stop_below"));
        assert_eq!(
            ok.longest(),
            Duration::from_secs(60) + Duration::from_secs(15)
        );
    }
}
