//! loyalty: under construction in its own issue.
