//! thumbnail-operator: the `Thumbnail` custom resource and the controller that
//! reconciles it into resizer runs (Kubernetes Jobs, or local processes).
//!
//! The resource types live here once; the REST shim depends on this library instead
//! of copying them.

pub mod config;
pub mod controller;
pub mod crd;
pub mod error;
pub mod executor;
pub mod invocation;
pub mod metrics;
pub mod naming;
pub mod objects;
pub mod rbac;
pub mod server;
pub mod status;

#[cfg(feature = "test-support")]
pub mod testing;

pub use crd::{Thumbnail, ThumbnailSpec, ThumbnailStatus};
pub use error::{Error, Result};

/// The operator's name towards the API server: the field manager of everything it
/// applies (Jobs, status), the reporter of its Events, and the `managed-by` label value
/// of its Jobs.
pub const MANAGER: &str = "thumbnail-operator";
