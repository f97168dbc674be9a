//! message (in progress).
