//! Retry policy for transient failures: exponential backoff with full
//! jitter, bounded in attempts and in total time.
//!
//! The engine retries a whole step when it fails with a transient error
//! (connection error, time-out, 5xx, 429). Steps are written so that
//! running one again repeats no work that was recorded as done. A
//! `Retry-After` from the server sets the wait instead of the backoff. The
//! bounds apply to failures in a row: when an import records batches
//! between two failures, its attempt budget and time budget start again.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Retry policy for transient failures: the `retry` section of a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts of one step in a row without progress, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt, in milliseconds.
    pub base_delay_ms: u64,
    /// Maximum wait between two attempts, in milliseconds.
    pub max_delay_ms: u64,
    /// Maximum time one step may spend failing in a row, in seconds.
    pub max_total_seconds: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay_ms: 500,
            max_delay_ms: 30_000,
            max_total_seconds: 600,
        }
    }
}

impl RetryPolicy {
    /// Returns the wait before attempt `next` (2 for the first retry), or
    /// `None` when the attempts or the time budget are used up. `elapsed` is
    /// the time spent on the step so far.
    pub fn delay(
        &self,
        next: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if next > self.max_attempts {
            return None;
        }
        let wait = match retry_after {
            Some(wait) => wait,
            None => self.backoff(next),
        };
        let budget = Duration::from_secs(self.max_total_seconds);
        if elapsed + wait > budget {
            return None;
        }
        Some(wait)
    }

    /// Full jitter: a random wait up to `base × 2^(next − 2)`, capped.
    fn backoff(&self, next: u32) -> Duration {
        let exponent = next.saturating_sub(2).min(30);
        let ceiling = self
            .base_delay_ms
            .saturating_mul(1 << exponent)
            .min(self.max_delay_ms)
            .max(1);
        let millis = rand::thread_rng().gen_range(ceiling / 2..=ceiling);
        Duration::from_millis(millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay_ms: 100,
            max_delay_ms: 1_000,
            max_total_seconds: 60,
        }
    }

    #[test]
    fn delay_grows_and_stays_capped() {
        let policy = RetryPolicy {
            max_attempts: 20,
            ..policy()
        };
        for next in 2..=20 {
            let ceiling = (100u64 << (next - 2).min(30)).min(1_000);
            let wait = policy.delay(next, Duration::ZERO, None).unwrap();
            assert!(
                wait <= Duration::from_millis(ceiling),
                "attempt {next}: {wait:?}"
            );
            assert!(
                wait >= Duration::from_millis(ceiling / 2),
                "attempt {next}: {wait:?}"
            );
        }
    }

    #[test]
    fn delay_stops_after_max_attempts() {
        assert!(policy().delay(4, Duration::ZERO, None).is_some());
        assert_eq!(policy().delay(5, Duration::ZERO, None), None);
    }

    #[test]
    fn delay_stops_when_budget_is_spent() {
        let spent = Duration::from_secs(59) + Duration::from_millis(950);
        assert_eq!(
            policy().delay(2, spent, Some(Duration::from_millis(100))),
            None
        );
    }

    #[test]
    fn delay_follows_retry_after() {
        let wait = policy().delay(2, Duration::ZERO, Some(Duration::from_secs(3)));
        assert_eq!(wait, Some(Duration::from_secs(3)));
    }
}
