//! Integration tests for leads: written in its own issue.
