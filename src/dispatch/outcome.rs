//! From what an attempt produced to what the store records: classification, then the
//! domain's retry decision. Pure apart from its inputs.

use std::time::Duration;

use ferry_domain::outcome::classify_response;
use ferry_domain::retry::{AttemptFacts, next_step};
use ferry_domain::{ClassifyRule, Next, OutcomeClass, RetryPolicy, Timestamp};

use crate::client::DeliveryResult;
use crate::store::{AttemptRecord, ClaimedJob, Completion, ExpiredLease, JobNext, Lease};

/// The facts of one attempt that do not depend on how it went.
#[derive(Debug, Clone, Copy)]
pub struct AttemptContext {
    pub lease: Lease,
    pub attempt: u32,
    pub attempt_in_window: u32,
    pub window_start: Timestamp,
}

impl From<&ClaimedJob> for AttemptContext {
    fn from(job: &ClaimedJob) -> Self {
        AttemptContext {
            lease: job.lease,
            attempt: job.attempt,
            attempt_in_window: job.attempt_in_window,
            window_start: job.window_start,
        }
    }
}

impl From<&ExpiredLease> for AttemptContext {
    fn from(job: &ExpiredLease) -> Self {
        AttemptContext {
            lease: job.lease,
            attempt: job.attempt,
            attempt_in_window: job.attempt_in_window,
            window_start: job.window_start,
        }
    }
}

pub struct Rules<'a> {
    pub retry: &'a RetryPolicy,
    pub classify: &'a [ClassifyRule],
}

/// Builds the completion of an attempt that started at `started` and took `took`.
pub fn completion(
    rules: &Rules<'_>,
    attempt: AttemptContext,
    result: DeliveryResult,
    started: Timestamp,
    took: Duration,
    now: Timestamp,
    jitter: f64,
) -> Completion {
    let (class, status, body, error, retry_after) = match result {
        DeliveryResult::Response {
            status,
            body,
            retry_after,
        } => {
            let class = classify_response(rules.classify, status, &body);
            (class, Some(status), Some(body.to_vec()), None, retry_after)
        }
        DeliveryResult::Failed {
            class,
            error,
            retry_after,
        } => (class, None, None, Some(error), retry_after),
    };
    let facts = AttemptFacts {
        class,
        attempt_in_window: attempt.attempt_in_window,
        window_start: attempt.window_start,
        now,
        retry_after,
        jitter,
    };
    let next = match next_step(rules.retry, facts) {
        Next::Succeeded => JobNext::Succeeded,
        Next::RetryAt(at) => JobNext::RetryAt(at),
        Next::Dead(reason) => JobNext::Dead {
            reason: reason.describe(),
        },
    };
    Completion {
        lease: attempt.lease,
        attempt: AttemptRecord {
            number: attempt.attempt,
            at: started,
            duration_ms: took.as_millis().min(u64::MAX as u128) as u64,
            class,
            status,
            body,
            error,
        },
        next,
    }
}

/// The completion that stands for an attempt whose worker vanished: the contract counts
/// it as a transient failure.
pub fn lease_expired(
    rules: &Rules<'_>,
    job: &ExpiredLease,
    now: Timestamp,
    jitter: f64,
) -> Completion {
    let result = DeliveryResult::Failed {
        class: OutcomeClass::Transient,
        error: "lease expired: the worker holding this job stopped before recording its outcome"
            .into(),
        retry_after: None,
    };
    completion(
        rules,
        job.into(),
        result,
        job.lease_expired_at,
        Duration::ZERO,
        now,
        jitter,
    )
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use ferry_domain::SignedDuration;

    use super::*;
    use crate::store::JobHandle;

    const T0: Timestamp = Timestamp::UNIX_EPOCH;

    fn ctx(attempt: u32) -> AttemptContext {
        AttemptContext {
            lease: Lease {
                job: JobHandle(7),
                token: 42,
            },
            attempt,
            attempt_in_window: attempt,
            window_start: T0,
        }
    }

    fn response(status: u16, body: &'static str) -> DeliveryResult {
        DeliveryResult::Response {
            status,
            body: Bytes::from_static(body.as_bytes()),
            retry_after: None,
        }
    }

    #[test]
    fn a_2xx_succeeds_and_keeps_the_body() {
        let rules = Rules {
            retry: &RetryPolicy::DEFAULT,
            classify: &[],
        };
        let c = completion(
            &rules,
            ctx(1),
            response(201, "created"),
            T0,
            Duration::from_millis(12),
            T0,
            0.0,
        );
        assert_eq!(c.next, JobNext::Succeeded);
        assert_eq!(
            c.lease,
            Lease {
                job: JobHandle(7),
                token: 42
            },
            "the completion carries the lease it fences on"
        );
        assert_eq!(c.attempt.class, OutcomeClass::Success);
        assert_eq!(c.attempt.status, Some(201));
        assert_eq!(c.attempt.body.as_deref(), Some(&b"created"[..]));
        assert_eq!(c.attempt.duration_ms, 12);
    }

    #[test]
    fn client_rules_decide_before_the_defaults() {
        let rules_list = [ClassifyRule {
            status: vec!["409".parse().unwrap()],
            body_contains: Some("exists".into()),
            class: OutcomeClass::Success,
        }];
        let rules = Rules {
            retry: &RetryPolicy::DEFAULT,
            classify: &rules_list,
        };
        let c = completion(
            &rules,
            ctx(1),
            response(409, "already exists"),
            T0,
            Duration::ZERO,
            T0,
            0.0,
        );
        assert_eq!(c.next, JobNext::Succeeded);
    }

    #[test]
    fn a_503_retries_after_backoff_and_a_401_dies_at_once() {
        let rules = Rules {
            retry: &RetryPolicy::DEFAULT,
            classify: &[],
        };
        let c = completion(
            &rules,
            ctx(1),
            response(503, ""),
            T0,
            Duration::ZERO,
            T0,
            0.0,
        );
        assert_eq!(
            c.next,
            JobNext::RetryAt(T0.checked_add(SignedDuration::from_secs(1)).unwrap())
        );
        let c = completion(
            &rules,
            ctx(1),
            response(401, ""),
            T0,
            Duration::ZERO,
            T0,
            0.0,
        );
        assert!(matches!(c.next, JobNext::Dead { .. }));
        assert_eq!(c.attempt.class, OutcomeClass::Unauthorized);
    }

    #[test]
    fn an_expired_lease_counts_as_a_transient_attempt() {
        let rules = Rules {
            retry: &RetryPolicy::DEFAULT,
            classify: &[],
        };
        let expired = ExpiredLease {
            lease: Lease {
                job: JobHandle(1),
                token: 5,
            },
            job_id: "job_x".into(),
            client: "c".into(),
            event_id: "e".into(),
            attempt: 3,
            attempt_in_window: 3,
            window_start: T0,
            lease_expired_at: T0,
        };
        let c = lease_expired(&rules, &expired, T0, 0.0);
        assert_eq!(c.attempt.class, OutcomeClass::Transient);
        assert_eq!(c.attempt.number, 3);
        assert!(matches!(c.next, JobNext::RetryAt(_)));
    }
}
