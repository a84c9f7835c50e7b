//! End-to-end tests of thumbnail-operator live in `tests/`: the real operator (local
//! mode), resizer and REST shim binaries, against the real CRD API server and S3 server
//! that `make test` starts. This library is empty on purpose: the tests use only the
//! programs and their public surfaces (kubectl, HTTP, S3).
