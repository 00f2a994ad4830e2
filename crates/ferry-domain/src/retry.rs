//! What happens to a job after an attempt: the contract's retry rules as one pure function.
//!
//! - success: done;
//! - unauthorized: dead at once (the client is paused elsewhere; nothing retries in a loop);
//! - transient and throttled: retried with exponential backoff and jitter, capped by
//!   `max_backoff`, until `transient_window` after the first attempt of the window;
//! - permanent: the same, but only within `permanent_window` (races heal, typos don't);
//! - a `Retry-After` the destination sent wins over `max_backoff`, but never carries a job
//!   past its window: when the next attempt would fall after the window, the job is dead now.

use jiff::{SignedDuration, Timestamp};

use crate::OutcomeClass;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry; doubles with every further one.
    pub backoff: SignedDuration,
    pub max_backoff: SignedDuration,
    pub transient_window: SignedDuration,
    pub permanent_window: SignedDuration,
}

impl RetryPolicy {
    /// The contract's defaults: `1s`, `1h`, `7d`, `5m`.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        backoff: SignedDuration::from_secs(1),
        max_backoff: SignedDuration::from_hours(1),
        transient_window: SignedDuration::from_hours(7 * 24),
        permanent_window: SignedDuration::from_mins(5),
    };

    /// The window a class of failure is retried within; `None` for classes never retried.
    pub fn window(&self, class: OutcomeClass) -> Option<SignedDuration> {
        match class {
            OutcomeClass::Transient | OutcomeClass::Throttled => Some(self.transient_window),
            OutcomeClass::Permanent => Some(self.permanent_window),
            OutcomeClass::Success | OutcomeClass::Unauthorized => None,
        }
    }

    /// Exponential backoff for the `n`th retry of a window (`n` ≥ 1), capped by
    /// `max_backoff`. `jitter` in `[0, 1)` shortens the delay by up to a quarter so that
    /// jobs that failed together do not come back together; the cap is never exceeded.
    pub fn backoff_delay(&self, n: u32, jitter: f64) -> SignedDuration {
        let base = self.backoff.as_secs_f64().max(0.0);
        let cap = self.max_backoff.as_secs_f64().max(0.0);
        let exponent = n.saturating_sub(1).min(62) as i32;
        let capped = (base * 2f64.powi(exponent)).min(cap);
        let factor = 1.0 - 0.25 * jitter.clamp(0.0, 1.0);
        SignedDuration::try_from_secs_f64(capped * factor).unwrap_or(SignedDuration::MAX)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::DEFAULT
    }
}

/// Everything the decision needs to know about the attempt that just ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttemptFacts {
    pub class: OutcomeClass,
    /// 1 for the first attempt of the current retry window (an operator's retry opens a
    /// fresh window), 2 for the first retry, and so on.
    pub attempt_in_window: u32,
    /// When the current window's first attempt was made.
    pub window_start: Timestamp,
    pub now: Timestamp,
    /// What the destination asked for with `Retry-After`, as a delay from `now`.
    pub retry_after: Option<SignedDuration>,
    /// A random number in `[0, 1)`.
    pub jitter: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    RetryAt(Timestamp),
    Dead(DeadReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadReason {
    /// 401/403: our credentials were refused.
    Unauthorized,
    /// The next attempt would have fallen after the class's window.
    WindowExhausted(OutcomeClass),
}

impl DeadReason {
    pub fn describe(self) -> String {
        match self {
            DeadReason::Unauthorized => {
                "unauthorized: the destination refused our credentials".to_owned()
            }
            DeadReason::WindowExhausted(class) => {
                format!("gave up: {class} failures past the retry window")
            }
        }
    }
}

/// Decides what follows an attempt.
pub fn next_step(policy: &RetryPolicy, facts: AttemptFacts) -> Next {
    let window = match facts.class {
        OutcomeClass::Success => return Next::Succeeded,
        OutcomeClass::Unauthorized => return Next::Dead(DeadReason::Unauthorized),
        class => policy.window(class).unwrap_or(SignedDuration::ZERO),
    };
    let delay = match facts.retry_after {
        // Never sooner than the configured backoff: a `Retry-After: 0` must not spin.
        Some(asked) => asked.max(policy.backoff),
        None => policy.backoff_delay(facts.attempt_in_window, facts.jitter),
    };
    let deadline = facts
        .window_start
        .saturating_add(window)
        .unwrap_or(Timestamp::MAX);
    let at = facts.now.saturating_add(delay).unwrap_or(Timestamp::MAX);
    if at > deadline {
        Next::Dead(DeadReason::WindowExhausted(facts.class))
    } else {
        Next::RetryAt(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::UNIX_EPOCH;

    fn secs(n: i64) -> SignedDuration {
        SignedDuration::from_secs(n)
    }

    fn at(offset: SignedDuration) -> Timestamp {
        T0.checked_add(offset).unwrap()
    }

    fn facts(class: OutcomeClass, n: u32, now: SignedDuration) -> AttemptFacts {
        AttemptFacts {
            class,
            attempt_in_window: n,
            window_start: T0,
            now: at(now),
            retry_after: None,
            jitter: 0.0,
        }
    }

    #[test]
    fn success_and_unauthorized_end_at_once() {
        let p = RetryPolicy::DEFAULT;
        assert_eq!(
            next_step(&p, facts(OutcomeClass::Success, 1, secs(0))),
            Next::Succeeded
        );
        assert_eq!(
            next_step(&p, facts(OutcomeClass::Unauthorized, 1, secs(0))),
            Next::Dead(DeadReason::Unauthorized)
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            max_backoff: secs(60),
            ..RetryPolicy::DEFAULT
        };
        let delays: Vec<_> = (1..=9).map(|n| p.backoff_delay(n, 0.0).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(
            p.backoff_delay(u32::MAX, 0.0),
            secs(60),
            "huge attempt counts saturate"
        );
    }

    #[test]
    fn jitter_shortens_by_at_most_a_quarter_and_never_exceeds_the_cap() {
        let p = RetryPolicy {
            max_backoff: secs(100),
            ..RetryPolicy::DEFAULT
        };
        for j in [0.0, 0.3, 0.999] {
            let d = p.backoff_delay(20, j);
            assert!(d <= secs(100) && d >= secs(75), "{d:?} for jitter {j}");
        }
    }

    #[test]
    fn transient_failures_retry_until_the_transient_window_ends() {
        let p = RetryPolicy {
            transient_window: secs(100),
            ..RetryPolicy::DEFAULT
        };
        assert_eq!(
            next_step(&p, facts(OutcomeClass::Transient, 1, secs(0))),
            Next::RetryAt(at(secs(1)))
        );
        assert_eq!(
            next_step(&p, facts(OutcomeClass::Transient, 3, secs(50))),
            Next::RetryAt(at(secs(54)))
        );
        // attempt 7 would wait 64 s: 50 + 64 > 100.
        assert_eq!(
            next_step(&p, facts(OutcomeClass::Transient, 7, secs(50))),
            Next::Dead(DeadReason::WindowExhausted(OutcomeClass::Transient))
        );
    }

    #[test]
    fn permanent_failures_only_retry_within_the_short_window() {
        let p = RetryPolicy::DEFAULT; // 5 minute permanent window
        assert!(matches!(
            next_step(&p, facts(OutcomeClass::Permanent, 1, secs(0))),
            Next::RetryAt(_)
        ));
        assert_eq!(
            next_step(&p, facts(OutcomeClass::Permanent, 9, secs(299))),
            Next::Dead(DeadReason::WindowExhausted(OutcomeClass::Permanent))
        );
        // The same moment is well inside the transient window.
        assert!(matches!(
            next_step(&p, facts(OutcomeClass::Transient, 9, secs(299))),
            Next::RetryAt(_)
        ));
    }

    #[test]
    fn retry_after_wins_over_max_backoff_but_not_over_the_window() {
        let p = RetryPolicy {
            max_backoff: secs(10),
            transient_window: secs(3600),
            ..RetryPolicy::DEFAULT
        };
        let mut f = facts(OutcomeClass::Throttled, 1, secs(0));
        f.retry_after = Some(secs(120));
        assert_eq!(next_step(&p, f), Next::RetryAt(at(secs(120))));
        f.retry_after = Some(secs(7200));
        assert_eq!(
            next_step(&p, f),
            Next::Dead(DeadReason::WindowExhausted(OutcomeClass::Throttled))
        );
    }

    #[test]
    fn retry_after_zero_still_waits_the_base_backoff() {
        let p = RetryPolicy::DEFAULT;
        let mut f = facts(OutcomeClass::Throttled, 5, secs(0));
        f.retry_after = Some(secs(0));
        assert_eq!(next_step(&p, f), Next::RetryAt(at(secs(1))));
    }

    #[test]
    fn windows_are_measured_from_the_window_start_not_from_now() {
        let p = RetryPolicy {
            transient_window: secs(10),
            ..RetryPolicy::DEFAULT
        };
        let mut f = facts(OutcomeClass::Transient, 1, secs(0));
        f.window_start = at(secs(-9));
        assert_eq!(
            next_step(&p, f),
            Next::RetryAt(at(secs(1))),
            "exactly at the deadline is allowed"
        );
        f.window_start = at(secs(-10));
        assert!(matches!(next_step(&p, f), Next::Dead(_)));
    }
}
