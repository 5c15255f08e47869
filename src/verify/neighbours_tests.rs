//! Unit tests of `neighbours`: what the lab can hold, and how a combined verdict
//! becomes a probe's expectation.

use super::*;

#[test]
fn placeholder() {}
