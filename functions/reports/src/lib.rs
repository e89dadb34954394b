//! reports: under construction in its own issue.
