//! Sauda's shared crate: domain types, ports (small traits) and their AWS adapters.
//!
//! Functions depend on the ports; `aws` holds the DynamoDB, SQS and Secrets Manager
//! adapters that `main.rs` wires in. Pure parsing and key building need no AWS at all.
//!
//! Cross-capability contracts live here so they cannot drift: table keys (`keys`),
//! queue envelopes (`envelope`), counter names (`stats::metric`), the contact profile
//! (`contact`), the funnel (`funnel`), notices to managers (`notify`), API keys
//! (`apikey`) and rate limits (`ratelimit`).

pub mod api;
pub mod apikey;
pub mod aws;
pub mod cache;
pub mod changes;
pub mod chat;
pub mod config;
pub mod consumer;
pub mod contact;
pub mod dynamo;
pub mod envelope;
pub mod funnel;
pub mod i18n;
pub mod inbox;
pub mod keys;
pub mod lead;
pub mod limits;
pub mod limits_dynamo;
pub mod message;
pub mod metrics;
pub mod notify;
pub mod nps;
pub mod order;
pub mod order_reads;
pub mod outbound;
pub mod outbox;
pub mod partner;
pub mod phone;
pub mod plan;
pub mod ports;
pub mod ratelimit;
pub mod redact;
pub mod registry;
pub mod retry;
pub mod secrets;
pub mod settings;
pub mod signature;
pub mod signing;
pub mod stats;
pub mod telegram;
pub mod telegram_api;
pub mod tenant;
pub mod whatsapp;
pub mod whatsapp_api;

pub use api::ApiError;
pub use tenant::TenantId;

/// Current wall-clock time in epoch milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
