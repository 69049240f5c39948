//! How many requests may wait for Metabase at once: polite and adaptive.
//!
//! The limit starts at `max_concurrent_requests`. A 429 or 503 (the server,
//! or a proxy before it, asking us to slow down) halves it for the rest of
//! the run; it grows back by one after as many answers in a row as the
//! limit is (additive increase, multiplicative decrease, as TCP does).

#[derive(Debug, Clone)]
pub struct InFlightLimit {
    max: u32,
    limit: u32,
    /// Answers since the limit last changed.
    answered: u32,
}

impl InFlightLimit {
    pub fn new(max: u32) -> Self {
        let max = max.max(1);
        InFlightLimit { max, limit: max, answered: 0 }
    }

    /// Requests that may wait at once now.
    pub fn get(&self) -> u32 {
        self.limit
    }

    /// The server asked us to slow down.
    pub fn throttled(&mut self) {
        self.limit = (self.limit / 2).max(1);
        self.answered = 0;
    }

    /// An answer came back without throttling.
    pub fn answered(&mut self) {
        self.answered += 1;
        if self.limit < self.max && self.answered >= self.limit {
            self.limit += 1;
            self.answered = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_on_throttling_and_grows_back_one_at_a_time() {
        let mut l = InFlightLimit::new(8);
        l.throttled();
        assert_eq!(l.get(), 4);
        l.throttled();
        l.throttled();
        l.throttled();
        assert_eq!(l.get(), 1, "never below one");
        l.answered();
        assert_eq!(l.get(), 2);
        for _ in 0..2 {
            l.answered();
        }
        assert_eq!(l.get(), 3);
        for _ in 0..100 {
            l.answered();
        }
        assert_eq!(l.get(), 8, "never above the configured maximum");
    }
}
