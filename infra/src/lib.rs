//! Sauda's operator tooling and local stack.
//!
//! - `template`: reads `template.yaml` and resolves its intrinsics;
//! - `provision`: creates its resources on the local emulator;
//! - `tenant`: onboarding (create a tenant, store its secrets, register webhooks);
//! - `pump`: delivers SQS messages to functions served by `cargo lambda watch`;
//! - `demo`: signed sample updates for the demo tenant.

pub mod cli;
pub mod demo;
pub mod demo_run;
pub mod leads_cli;
pub mod provision;
pub mod pump;
pub mod template;
pub mod tenant;
