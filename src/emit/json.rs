//! libnftables JSON form of the ruleset.
