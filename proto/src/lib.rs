//! Weft's gRPC API, package `weft.v1`: the generated messages, service
//! traits and clients, the descriptor set for server reflection, and the
//! one place that converts wire pipeline entries to and from the compiler's
//! [`weft_pipeline::PipelineEntry`].
//!
//! The `.proto` files are the contract (see `proto/README.md`); this crate
//! does not decide anything about the messages' meaning. Resource
//! conversions live in the controller's adapter (`weftd`), where the
//! validation context is.

mod entry;

pub use entry::{EntryError, entry_from_wire, entry_to_wire};

/// Generated code of `weft.v1`.
#[allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic,
    unused_qualifications
)]
pub mod v1 {
    tonic::include_proto!("weft.v1");
}

/// The encoded `FileDescriptorSet` of `weft.v1`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("weft_v1_descriptor");
