//! lead-capture: under construction in its own issue.
