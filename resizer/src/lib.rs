//! The resizer: the batch program a Job runs to make one thumbnail.
//!
//! [`detect`] -> [`decode`] -> [`geometry`] / [`resize`] / [`colour`] / [`orient`] -> [`encode`],
//! tied together by [`pipeline`] and run against S3 or local files by [`run`], or for
//! several thumbnails in one process by [`batch`].
//!
//! Its contract (command line, JSON result, exit codes) and format detection are the
//! `api` crate's, shared with the operator and the shim, which do not depend on this
//! crate and so never link its image libraries. They are re-exported here under the
//! names the pipeline's modules use.

pub use thumbnail_api::{contract, detect};

pub mod batch;
pub mod colour;
pub mod decode;
pub mod encode;
pub mod error;
pub mod geometry;
pub mod jpeg_markers;
pub mod orient;
pub mod pipeline;
pub mod pixels;
pub mod resize;
pub mod run;
