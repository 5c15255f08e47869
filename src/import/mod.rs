//! Reading another firewall's configuration: firewalld's XML (`xml.rs`), its service
//! definitions (`service.rs`).

pub mod service;
pub mod xml;
