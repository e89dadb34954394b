//! Integration tests for reports: written in its own issue.
