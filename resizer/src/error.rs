//! The pipeline's error: a contract [`Reason`] plus a message that tells the user what
//! to do. Every failure of a run ends up as one of these, and so as one JSON result.

use crate::contract::{Failure, Reason};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct Failed {
    pub reason: Reason,
    pub message: String,
}

impl Failed {
    pub fn new(reason: Reason, message: impl Into<String>) -> Failed {
        Failed {
            reason,
            message: message.into(),
        }
    }

    pub fn into_failure(self) -> Failure {
        Failure::new(self.reason, self.message)
    }
}

pub type Result<T, E = Failed> = std::result::Result<T, E>;
