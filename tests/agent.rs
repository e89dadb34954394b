//! Integration tests for agent: written in its own issue.
