//! Kernel apply behaviour.
