//! Sauda's shared crate: domain types, ports (small traits) and their AWS adapters.
//!
//! Functions depend on the ports; `aws` holds the DynamoDB, SQS and Secrets Manager
//! adapters that `main.rs` wires in. Pure parsing and key building need no AWS at all.

pub mod aws;
pub mod cache;
pub mod config;
pub mod envelope;
pub mod error;
pub mod keys;
pub mod message;
pub mod ports;
pub mod secrets;
pub mod signature;
pub mod stats;
pub mod telegram;
pub mod tenant;
pub mod whatsapp;

pub use error::ApiError;
pub use tenant::TenantId;

/// Current wall-clock time in epoch milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
