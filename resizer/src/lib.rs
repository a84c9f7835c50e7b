//! The resizer: the batch program a Job runs to make one thumbnail, and the library
//! the operator and the REST shim use for its contract and for the object store.
//!
//! - [`contract`]: the command line, the JSON result and the exit codes.
//! - [`store`]: S3-compatible store configuration, client and error classification.
//!
//! With the default `pipeline` feature (off for the operator and the shim, which need
//! only the two modules above) also the image pipeline and the binary:
//! [`detect`] -> [`decode`] -> [`geometry`] / [`resize`] / [`orient`] -> [`encode`],
//! tied together by [`pipeline`] and run against S3 or local files by [`run`].

pub mod contract;
pub mod store;
// Format detection needs no image library: the shim checks uploads with it too.
pub mod detect;
pub mod error;

#[cfg(feature = "pipeline")]
pub mod decode;
#[cfg(feature = "pipeline")]
pub mod encode;
#[cfg(feature = "pipeline")]
pub mod geometry;
#[cfg(feature = "pipeline")]
pub mod jpeg_markers;
#[cfg(feature = "pipeline")]
pub mod orient;
#[cfg(feature = "pipeline")]
pub mod pipeline;
#[cfg(feature = "pipeline")]
pub mod pixels;
#[cfg(feature = "pipeline")]
pub mod resize;
#[cfg(feature = "pipeline")]
pub mod run;
