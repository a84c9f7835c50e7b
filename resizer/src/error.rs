//! The pipeline's error: the contract's [`Failed`], a [`Reason`](crate::contract::Reason)
//! plus a message that tells the user what to do. Every failure of a run ends up as one
//! of these, and so as one JSON result.

pub use crate::contract::Failed;

pub type Result<T, E = Failed> = std::result::Result<T, E>;
