//! thumbnail-operator: the `Thumbnail` custom resource and (with later modules) the
//! controller that reconciles it into resizer Jobs.
//!
//! The resource types live here once; the REST shim depends on this library instead
//! of copying them.

pub mod crd;

pub use crd::{Thumbnail, ThumbnailSpec, ThumbnailStatus};

#[cfg(feature = "test-support")]
pub mod testing;
