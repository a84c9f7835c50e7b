//! The API of thumbnail-operator: what the operator, the resizer and the REST shim
//! agree on, and nothing that runs. Types, constants and pure functions only (no
//! Kubernetes client, no S3 client, no image library), so that each component depends
//! on it without linking what it does not run.
//!
//! - [`crd`]: the `Thumbnail` resource, its limits and condition types, and the
//!   generated CustomResourceDefinition (`crdgen` prints it for `make crds`).
//! - [`metadata`]: finalizer, field manager, labels and annotations.
//! - [`links`]: the REST API's hypermedia links and URL encoding.
//! - [`status_words`]: phases in the REST API's words (uploaded, processing, ...).
//! - [`contract`]: the resizer's command line, JSON result and exit codes, which the
//!   operator renders and reads and the resizer parses and writes.
//! - [`store_config`]: the S3 store settings every component reads (part of the
//!   contract: the operator passes them to each run); the client is the `store` crate.
//! - [`detect`]: which image formats are accepted, from their magic bytes.
//! - [`rbac`]: the Kubernetes permissions each component needs.
//!
//! With the `openapi` feature (the shim's), the types the REST API shows also derive
//! their OpenAPI schema, so the documentation lists the same words the code accepts.

pub mod contract;
pub mod crd;
pub mod detect;
pub mod links;
pub mod metadata;
pub mod ownership;
pub mod rbac;
pub mod status_words;
pub mod store_config;

pub use crd::{Thumbnail, ThumbnailSpec, ThumbnailStatus};
