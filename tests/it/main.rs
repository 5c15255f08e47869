//! The one integration test binary: each module is a group of tests.

mod errors;
mod fmt;
mod fuzz;
