//! agent-reply: under construction in its own issue.
