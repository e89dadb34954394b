//! Integration tests for loyalty: written in its own issue.
