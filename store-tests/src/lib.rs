//! Store test harness.
