//! Request throttles: [`LoginThrottle`] (failed logins slow further attempts down, without
//! locking anyone out) and [`TokenBuckets`] (request rates per client or participant).
//!
//! The login throttle is written here rather than taken from a crate because it counts
//! *failures* per key (e-mail, client address), spaces attempts out by a growing delay, and
//! is reset on success, which request-rate limiters such as `governor` do not model.
use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

/// Failed logins per key within a sliding window; each failure beyond the first `free` ones
/// doubles the spacing the key's next attempt must keep (from `base` up to the key's cap).
///
/// An attempt is counted as a failure when it *starts* (cleared on success): concurrent
/// attempts see each other, so a burst of parallel guesses is spaced out like a sequence
/// instead of all reaching the password hash at once. Attempts are not refused for failures
/// alone (no lockout: the owner of an account an attacker hammers still gets in, a little
/// later); only an attempt that would have to wait longer than `max_wait` (a flood queued up
/// behind) is refused, with the time to retry.
pub struct LoginThrottle {
    window: Duration,
    free: usize,
    base: Duration,
    max_wait: Duration,
    keys: Mutex<HashMap<String, Key>>,
}

#[derive(Default)]
struct Key {
    failures: VecDeque<Instant>,
    /// The earliest time the key's next attempt may check its password.
    next: Option<Instant>,
}

impl LoginThrottle {
    pub fn new(window: Duration, free: usize, base: Duration, max_wait: Duration) -> Self {
        Self {
            window,
            free,
            base,
            max_wait,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves an attempt on every `(key, cap)`: `Ok(wait)` before checking the password, or
    /// `Err(retry_after)` when the wait would exceed `max_wait` (nothing is recorded then).
    pub fn begin(&self, keys: &[(String, Duration)]) -> Result<Duration, Duration> {
        self.begin_at(keys, Instant::now())
    }

    fn begin_at(&self, keys: &[(String, Duration)], now: Instant) -> Result<Duration, Duration> {
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            let window = self.window;
            map.retain(|_, k| {
                k.failures
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
                    || k.next.is_some_and(|n| n > now)
            });
        }
        let mut wait = Duration::ZERO;
        for (key, _) in keys {
            if let Some(k) = map.get_mut(key) {
                while k
                    .failures
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    k.failures.pop_front();
                }
                if let Some(next) = k.next {
                    wait = wait.max(next.saturating_duration_since(now));
                }
            }
        }
        if wait > self.max_wait {
            return Err(wait);
        }
        let start = now + wait;
        for (key, cap) in keys {
            let k = map.entry(key.clone()).or_default();
            k.failures.push_back(now);
            let n = k.failures.len();
            let spacing = if n <= self.free {
                Duration::ZERO
            } else {
                let doublings = (n - self.free - 1).min(20) as u32;
                (self.base * 2u32.pow(doublings)).min(*cap)
            };
            k.next = Some(start + spacing);
        }
        Ok(wait)
    }

    /// A successful login: the keys start afresh.
    pub fn succeeded(&self, keys: &[(String, Duration)]) {
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        for (key, _) in keys {
            map.remove(key);
        }
    }
}

/// Token buckets per key (client address, participant token): bursts of `burst` requests, then
/// `rate` per second. Memory stays bounded under a flood of distinct keys: full buckets are
/// forgotten once there are more than `max_keys`.
pub struct TokenBuckets {
    burst: f64,
    rate: f64,
    max_keys: usize,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl TokenBuckets {
    pub fn new(burst: u32, rate_per_s: f64) -> Self {
        Self {
            burst: f64::from(burst),
            rate: rate_per_s,
            max_keys: 100_000,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token of `key`'s bucket; false when it is empty (the request is refused).
    pub fn take(&self, key: &str) -> bool {
        self.take_at(key, Instant::now())
    }

    fn take_at(&self, key: &str, now: Instant) -> bool {
        let mut m = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > self.max_keys {
            let refill = self.burst / self.rate;
            m.retain(|_, (_, t)| now.duration_since(*t).as_secs_f64() < refill);
        }
        let (tokens, last) = m.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_a_burst_then_the_rate() {
        let b = TokenBuckets::new(3, 2.0);
        let t0 = Instant::now();
        assert!((0..3).all(|_| b.take_at("ip", t0)));
        assert!(!b.take_at("ip", t0), "burst used up");
        assert!(b.take_at("other", t0), "other keys unaffected");
        assert!(!b.take_at("ip", t0 + Duration::from_millis(400)));
        assert!(
            b.take_at("ip", t0 + Duration::from_millis(1000)),
            "refilled at 2/s"
        );
    }

    #[test]
    fn failures_space_attempts_out_without_locking_out() {
        let th = LoginThrottle::new(
            Duration::from_secs(900),
            3,
            Duration::from_secs(1),
            Duration::from_secs(60),
        );
        let cap = Duration::from_secs(30);
        let k = |s: &str| vec![(s.to_owned(), cap)];
        let t0 = Instant::now();
        // Three free attempts, then 1 s, 2 s, 4 s … between attempts, even when they arrive
        // together (each is counted as it starts).
        let waits: Vec<u64> = (0..7)
            .map(|_| th.begin_at(&k("a"), t0).unwrap().as_secs())
            .collect();
        assert_eq!(waits, [0, 0, 0, 0, 1, 3, 7]);
        assert_eq!(
            th.begin_at(&k("b"), t0),
            Ok(Duration::ZERO),
            "other keys unaffected"
        );
        // Never a lockout: later, the attempt just waits its turn.
        let later = t0 + Duration::from_secs(20);
        assert_eq!(th.begin_at(&k("a"), later), Ok(Duration::ZERO));
        // A flood queued far ahead is refused with the time to retry, and not recorded.
        let flood = LoginThrottle::new(
            Duration::from_secs(900),
            0,
            Duration::from_secs(30),
            Duration::from_secs(60),
        );
        let f = |s: &str| vec![(s.to_owned(), Duration::from_secs(30))];
        assert!(flood.begin_at(&f("x"), t0).is_ok());
        assert!(flood.begin_at(&f("x"), t0).is_ok());
        assert!(flood.begin_at(&f("x"), t0).is_ok());
        assert_eq!(flood.begin_at(&f("x"), t0), Err(Duration::from_secs(90)));
        // Success starts afresh; the window forgets old failures.
        th.succeeded(&k("a"));
        assert_eq!(th.begin_at(&k("a"), later), Ok(Duration::ZERO));
        let much_later = t0 + Duration::from_secs(1000);
        assert_eq!(th.begin_at(&k("b"), much_later), Ok(Duration::ZERO));
    }
}
