//! Reading another firewall's configuration into a hostwall policy: firewalld's XML
//! (`xml.rs`), its service definitions (`service.rs`), zones (`zone.rs`), policies
//! (`policy.rs`) and rich rules (`rich.rs`), `firewalld.conf` and the default zone
//! (`conf.rs`), the interface dispatch order (`dispatch.rs`), firewalld's ICMP type names
//! (`icmp.rs`), and the conversion of the active zones into one policy (`convert.rs`:
//! which zones apply in which order; `write.rs`: the policy's lines).

pub mod conf;
pub mod convert;
mod dispatch;
mod icmp;
pub mod policy;
pub mod rich;
pub mod service;
mod write;
pub mod xml;
pub mod zone;

pub use convert::{Config, Imported, firewalld};
