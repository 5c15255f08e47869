//! IR and model builders. Both files name the library's modules as `crate::ir`,
//! `crate::model` and `crate::source`: inside the library they are its own modules
//! (unit tests include a file with `#[path]`), in a test binary the crate root imports
//! them (`use hostwall::{ir, model, source};`).

pub mod host;
pub mod ir;
pub mod model;
