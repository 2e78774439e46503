//! Where the pipeline reads the time of day.
//!
//! The pipeline's waits (the de-duplication window, the application's
//! moment to enqueue, TX-ack expiry, the class C scheduler's interval) run
//! on tokio's clock, which a test can pause and advance. The time of day
//! it stores and compares (`last_seen_at`, queue-item expiry, the class C
//! locks in `scheduler_run_after`, event timestamps) is a [`SystemTime`],
//! which tokio does not move. [`Clock::Runtime`] derives the time of day
//! from tokio's clock, so that a test on a paused runtime moves both
//! together and a five-second lock ends five simulated seconds later.

use std::time::SystemTime;

/// The pipeline's source of the time of day.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub enum Clock {
    /// [`SystemTime::now`]: what a server runs with.
    #[default]
    System,
    /// `at` plus the time tokio's clock has moved since `instant`: for
    /// tests on a paused runtime (`tokio::time::pause`), where the time of
    /// day must advance with `tokio::time::advance` and auto-advance.
    Runtime {
        /// The time of day at `instant`.
        at: SystemTime,
        /// The runtime's instant that `at` corresponds to.
        instant: tokio::time::Instant,
    },
}

impl Clock {
    /// A [`Clock::Runtime`] that reads the time of day now and follows
    /// tokio's clock from here on.
    pub fn runtime() -> Self {
        Self::Runtime {
            at: SystemTime::now(),
            instant: tokio::time::Instant::now(),
        }
    }

    /// The time of day.
    pub fn now(&self) -> SystemTime {
        match self {
            Self::System => SystemTime::now(),
            Self::Runtime { at, instant } => *at + instant.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_runtime_clock_moves_with_the_paused_runtime() {
        let clock = Clock::runtime();
        let start = clock.now();
        tokio::time::advance(Duration::from_secs(5)).await;
        let since = |t: SystemTime| clock.now().duration_since(t).unwrap();
        assert_eq!(since(start), Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(since(start), Duration::from_millis(5_250));
    }

    #[test]
    fn the_system_clock_is_the_time_of_day() {
        let before = SystemTime::now();
        let now = Clock::System.now();
        assert!(now >= before);
        assert!(now.duration_since(before).unwrap() < Duration::from_secs(60));
    }
}
