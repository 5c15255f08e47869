//! Test support shared by the integration (`tests/it`), kernel (`netns-tests`) and
//! booted-system (`boot-tests`) test binaries: the corpus walker, the golden runner, the
//! `nft` oracle runner, the root requirement, waiting for a new link to carry packets, a sysctl tree the sysctl step fails in, and
//! IR/model builders (which the library's
//! unit tests include too, see `build`). Never part of the product.
#![allow(dead_code)]

pub mod build;
pub mod cli;
pub mod corpus;
pub mod firewalld;
pub mod golden;
pub mod link;
pub mod netns;
pub mod nft;
pub mod root;
pub mod schema;
pub mod sysctl;
