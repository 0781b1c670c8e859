//! The KMS side of Coffer: a client for KES-compatible key servers (Coffer's own, or
//! MinIO KES), used by the object server and by `coffer kes` commands.
//!
//! The client spreads requests over several endpoints and fails over as kms-go does:
//! transport errors and 5xx answers (except 501) move on to the next endpoint and put
//! the failing one in a 30 s timeout; 4xx answers are returned at once.

mod client;
mod tls;

pub use client::{DataKey, Error, KesClient, RawResponse, Result};
pub use tls::{ClientIdentity, ServerTrust};
