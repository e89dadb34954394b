//! agent-reply: the AI consultant.
pub mod catalog;
