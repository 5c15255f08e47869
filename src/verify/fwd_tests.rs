//! Unit tests for the forward design and matrix (pure: no namespaces).
