//! Jobs: one per (event, matching subscription). The state machine is small on purpose.
//!
//! ```text
//!            claim              success
//! pending ─────────▶ running ───────────▶ succeeded
//!   ▲  │               │ retryable failure
//!   │  │               └──────▶ pending (next_attempt_at in the future)
//!   │  │               │ given up / unauthorized
//!   │  │               └──────▶ dead
//!   │  └── cancel ──▶ cancelled
//!   └──── retry ──── dead | cancelled
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Pending,
    Running,
    Succeeded,
    Dead,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Pending,
        JobState::Running,
        JobState::Succeeded,
        JobState::Dead,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Terminal states never change by themselves; only an operator's retry reopens them.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Dead | JobState::Cancelled
        )
    }

    /// An operator may send a dead or cancelled job around again.
    pub fn can_retry(self) -> bool {
        matches!(self, JobState::Dead | JobState::Cancelled)
    }

    /// Only a job that is waiting can be cancelled; a running one is already on the wire.
    pub fn can_cancel(self) -> bool {
        matches!(self, JobState::Pending)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "state",
                    format!(
                        "must be one of pending, running, succeeded, dead, cancelled, not {s:?}"
                    ),
                )
            })
    }
}

/// Why a job was cancelled: the job says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CancelReason {
    /// A newer event for the same key replaced it (coalescing).
    Superseded,
    /// An operator cancelled it.
    Operator,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::Superseded => "superseded",
            CancelReason::Operator => "operator",
        }
    }
}

impl FromStr for CancelReason {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "superseded" => Ok(CancelReason::Superseded),
            "operator" => Ok(CancelReason::Operator),
            other => Err(ValidationError::new(
                "cancel_reason",
                format!("unknown reason {other:?}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_are_exactly_the_three_ends() {
        let terminal: Vec<_> = JobState::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [JobState::Succeeded, JobState::Dead, JobState::Cancelled]
        );
    }

    #[test]
    fn operators_retry_dead_or_cancelled_and_cancel_pending() {
        for s in JobState::ALL {
            assert_eq!(
                s.can_retry(),
                matches!(s, JobState::Dead | JobState::Cancelled),
                "{s}"
            );
            assert_eq!(s.can_cancel(), s == JobState::Pending, "{s}");
        }
    }

    #[test]
    fn states_round_trip_through_text() {
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>().unwrap(), s);
        }
        assert!("done".parse::<JobState>().is_err());
    }
}
