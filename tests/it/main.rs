//! The single integration test binary; each module is one topic.

mod safe;
