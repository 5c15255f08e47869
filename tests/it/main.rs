//! The one integration test binary: each module is a group of tests.

mod compile;
mod errors;
mod fmt;
mod fuzz;
mod golden;
