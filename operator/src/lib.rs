//! thumbnail-operator: the controller that reconciles `Thumbnail` resources into
//! resizer runs (Kubernetes Jobs, or local processes).
//!
//! The resource types, the resizer contract and RBAC are the `api` crate's
//! (`thumbnail_api`), shared with the resizer and the REST shim.

pub mod config;
pub mod controller;
pub mod drain;
pub mod error;
pub mod executor;
pub mod invocation;
pub mod leader;
pub mod metrics;
pub mod naming;
pub mod objects;
pub mod server;
pub mod source_policy;
pub mod status;

pub use error::{Error, Result};
