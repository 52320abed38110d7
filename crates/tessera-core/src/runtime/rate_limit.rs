//! Counting failures per key (an email, an address) in fixed windows, in memory.

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::UnixSeconds;

pub struct RateLimiter {
    max_failures: u32,
    window: i64,
    map: Mutex<HashMap<String, (UnixSeconds, u32)>>,
}

impl RateLimiter {
    /// At most `max_failures` failures per `window` seconds per key.
    pub fn new(max_failures: u32, window: i64) -> Self {
        Self {
            max_failures,
            window,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `key` may try again, or `None` when it may now.
    pub fn blocked_for(&self, key: &str, now: UnixSeconds) -> Option<i64> {
        let map = self.map.lock();
        let (start, count) = map.get(key)?;
        let end = start + self.window;
        (now < end && *count >= self.max_failures).then_some(end - now)
    }

    pub fn record_failure(&self, key: &str, now: UnixSeconds) {
        let mut map = self.map.lock();
        if map.len() > 100_000 {
            // Bounded memory: forget windows that are over.
            let window = self.window;
            map.retain(|_, (start, _)| now < *start + window);
        }
        let entry = map.entry(key.to_owned()).or_insert((now, 0));
        if now >= entry.0 + self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    pub fn clear(&self, key: &str) {
        self.map.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_the_window_ends() {
        let l = RateLimiter::new(2, 60);
        l.record_failure("a", 0);
        assert_eq!(l.blocked_for("a", 1), None);
        l.record_failure("a", 1);
        assert_eq!(l.blocked_for("a", 2), Some(58));
        assert_eq!(l.blocked_for("b", 2), None);
        assert_eq!(l.blocked_for("a", 60), None);
    }
}
