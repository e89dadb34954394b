//! Sauda's operator tooling and local stack.
//!
//! - `template`: reads `template.yaml` and resolves its intrinsics;
//! - `provision`: creates its resources on the local emulator;
//! - `tenant`: onboarding (create a tenant, store its secrets, register webhooks);
//! - `pump`: delivers SQS messages to functions served by `cargo lambda watch`;
//! - `demo`: signed sample updates for the demo tenant;
//! - `local_soak`: a long session against the local stack, sampling the emulator's memory.

pub mod bench_cli;
pub mod bench_functions;
pub mod catalog_cli;
pub mod cli;
pub mod cost;
pub mod demo;
pub mod demo_run;
pub mod demo_seed;
pub mod fake_saas;
pub mod leads_cli;
pub mod local_soak;
pub mod loyalty_cli;
pub mod plan_cli;
pub mod provision;
pub mod pump;
pub mod queue_cli;
pub mod queue_ops;
pub mod release;
pub mod report_cli;
pub mod runtime_bench;
pub mod schedule;
pub mod template;
pub mod tenant;
