//! When to try a request again, and how long to wait first.
//!
//! Retried: 429, 502, 503, 504, connection errors and timeouts, with
//! exponential backoff and equal jitter (half the step fixed, half random),
//! honouring `Retry-After` (seconds), bounded by a count and by the total
//! time waited. Other statuses are answers, not accidents, and are never
//! retried.

use crate::config::RetryConfig;

pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// The backoff state of one request.
pub struct Backoff {
    config: RetryConfig,
    attempt: u32,
    waited_ms: u64,
}

const BASE_MS: u64 = 500;
const CAP_MS: u64 = 30_000;

impl Backoff {
    pub fn new(config: RetryConfig) -> Self {
        Backoff { config, attempt: 0, waited_ms: 0 }
    }

    /// How long to wait before the next attempt, or None when the budget
    /// (count or total wait) is spent. `retry_after_s` is the server's hint.
    pub fn next_wait_ms(&mut self, retry_after_s: Option<u64>, random: u64) -> Option<u64> {
        if self.attempt >= self.config.max_retries {
            return None;
        }
        let budget_ms = u64::from(self.config.max_wait_s) * 1000;
        let exp = BASE_MS.saturating_mul(1u64 << self.attempt.min(16)).min(CAP_MS);
        // Equal jitter, over [exp/2, exp]: spreads clients that failed
        // together, yet never retries at once.
        let jittered = exp / 2 + random % (exp / 2 + 1);
        let wait = match retry_after_s {
            Some(s) => s.saturating_mul(1000).max(jittered.min(1000)),
            None => jittered,
        };
        if self.waited_ms + wait > budget_ms {
            return None;
        }
        self.attempt += 1;
        self.waited_ms += wait;
        Some(wait)
    }

    pub fn attempts(&self) -> u32 {
        self.attempt + 1
    }
}

/// `Retry-After` as delay-seconds. (The HTTP-date form is rare from
/// Metabase and its proxies; it falls back to the backoff schedule.)
pub fn parse_retry_after(value: Option<&str>) -> Option<u64> {
    value?.trim().parse::<u64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_count() {
        let mut b = Backoff::new(RetryConfig { max_retries: 3, max_wait_s: 1000 });
        let waits: Vec<_> = (0..5).map(|i| b.next_wait_ms(None, i * 7919)).collect();
        assert!(waits[..3].iter().all(Option::is_some));
        assert_eq!(&waits[3..], &[None, None]);
        // exponential: each wait lies in [exp/2, exp]
        for (i, w) in waits[..3].iter().enumerate() {
            let exp = BASE_MS << i;
            let w = w.unwrap();
            assert!(w >= exp / 2 && w <= exp, "attempt {i}: {w}");
        }
    }

    #[test]
    fn bounded_by_total_wait_and_honours_retry_after() {
        let mut b = Backoff::new(RetryConfig { max_retries: 10, max_wait_s: 5 });
        assert_eq!(b.next_wait_ms(Some(3), 0), Some(3000));
        assert_eq!(b.next_wait_ms(Some(3), 0), None, "would exceed the 5 s budget");
        assert_eq!(parse_retry_after(Some(" 7 ")), Some(7));
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }

    #[test]
    fn what_is_retried() {
        for s in [429, 502, 503, 504] {
            assert!(is_retryable_status(s));
        }
        for s in [200, 400, 401, 403, 404, 500] {
            assert!(!is_retryable_status(s));
        }
    }
}
