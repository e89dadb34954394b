//! The one backoff: exponential with an optional full jitter, used for in-process
//! retries (transactions, batch reads, HTTP calls) and for queue redelivery delays.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub base: Duration,
    /// Each further failure multiplies the delay by this.
    pub factor: u32,
    pub max: Duration,
    /// Spread the delay over `[d/2, d]` so that many callers do not retry in step.
    pub jitter: bool,
}

impl Backoff {
    pub const fn new(base: Duration, factor: u32, max: Duration) -> Self {
        Self {
            base,
            factor,
            max,
            jitter: true,
        }
    }

    /// The same schedule without jitter (queue delays that tests and people can predict).
    pub const fn exact(self) -> Self {
        Self {
            jitter: false,
            ..self
        }
    }

    /// Short in-process retries of a store operation: 5 ms doubling to 200 ms.
    pub const STORE: Backoff =
        Backoff::new(Duration::from_millis(5), 2, Duration::from_millis(200));

    /// The delay after the `attempt`-th failure (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let steps = attempt.saturating_sub(1).min(30);
        let mut delay = self.base;
        for _ in 0..steps {
            delay = delay.saturating_mul(self.factor.max(1));
            if delay >= self.max {
                break;
            }
        }
        let delay = delay.min(self.max);
        if !self.jitter {
            return delay;
        }
        use rand::Rng;
        let half = delay / 2;
        let spread = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=spread))
    }

    pub async fn sleep(&self, attempt: u32) {
        tokio::time::sleep(self.delay(attempt)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_the_factor_and_stops_at_the_cap() {
        let b = Backoff::new(Duration::from_secs(30), 4, Duration::from_secs(3600)).exact();
        let secs: Vec<u64> = (1..=6).map(|a| b.delay(a).as_secs()).collect();
        assert_eq!(secs, [30, 120, 480, 1920, 3600, 3600]);
        assert_eq!(b.delay(u32::MAX).as_secs(), 3600, "no overflow");
    }

    #[test]
    fn jitter_stays_within_half_and_whole() {
        let b = Backoff::STORE;
        for attempt in 1..10 {
            let exact = b.exact().delay(attempt);
            let d = b.delay(attempt);
            assert!(d >= exact / 2 && d <= exact, "{d:?} vs {exact:?}");
        }
    }
}
