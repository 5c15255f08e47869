//! Stable diagnostic codes of the checker (syntax is `E0001` in `syntax`, values `E02xx` in
//! `validate`, site file `E05xx` in `site`). Each doc comment shows text that triggers it;
//! docs/policy-language.md lists them all.

/// `include "missing.policy"`: the file cannot be read.
pub const INCLUDE_FAILED: &str = "E0002";
/// `a.policy` includes `b.policy` which includes `a.policy`.
pub const INCLUDE_CYCLE: &str = "E0003";
/// No `policy NAME { }` block, two of them, or one inside an included file.
pub const POLICY_BLOCK: &str = "E0004";
/// `allow sshh`: not a user service nor in the catalog.
pub const UNKNOWN_SERVICE: &str = "E0101";
/// `from mgnt`: not a `define` nor a site network.
pub const UNKNOWN_NETWORK: &str = "E0102";
/// `on uplnk`: bare interface names come from the site file's `[interfaces]`.
pub const UNKNOWN_INTERFACE: &str = "E0103";
/// `allow icmp echo-requets`: not an ICMP type name of that family.
pub const UNKNOWN_ICMP_TYPE: &str = "E0104";
/// `define a = b` and `define b = a`.
pub const NETWORK_CYCLE: &str = "E0105";
/// `log rejected limit 0/second`, or a rate/burst above 2^32-1.
pub const BAD_LOG_LIMIT: &str = "E0206";
/// `log rejected group 70000`: NFLOG groups are 0..=65535.
pub const BAD_LOG_GROUP: &str = "E0207";
/// `allow icmp 300`: ICMP types are 0..=255.
pub const BAD_ICMP_TYPE: &str = "E0208";
/// `log rejected prefix "..."` longer than 127 bytes, or with `"`, `\`, `$` or a control
/// character (also the site file's `log_prefix`).
pub const BAD_LOG_PREFIX: &str = "E0209";
/// `log level verbose`: not one of nft's eight levels.
pub const BAD_LOG_LEVEL: &str = "E0220";
/// `log level info group 2`: the kernel refuses a level for an NFLOG group.
pub const LOG_LEVEL_WITH_GROUP: &str = "E0221";
/// `drop tcp 22 limit 3/minute`: only `allow` rules take a rate limit.
pub const LIMIT_NOT_ALLOW: &str = "E0222";
/// Two `service ssh2`, two `define mgmt`, or a `define` named like a site network.
pub const DUPLICATE_DEFINITION: &str = "E0301";
/// Two `default` lines (or `forwarding`, `log rejected`, `count rejected`, `forward { }`).
pub const DUPLICATE_STATEMENT: &str = "E0302";
/// `allow from a from b`: one clause of a kind per rule (and per `log rejected`).
pub const DUPLICATE_CLAUSE: &str = "E0303";
/// `service ssh tcp 2222`: the catalog's names are reserved.
pub const BUILTIN_REDEFINED: &str = "E0304";
/// A bare `allow`: it would match every packet; say what it is about.
pub const EMPTY_RULE: &str = "E0401";
/// `out`, `in` or `established` in a rule outside `forward { }`.
pub const FORWARD_ONLY: &str = "E0402";
/// `on` inside `forward { }` (write `in`).
pub const INPUT_ONLY: &str = "E0403";
/// `on`, `in`, `from` or `established` inside `output { }`.
pub const NOT_IN_OUTPUT: &str = "E0406";
/// `allow ssh icmp`, `allow tcp 22 icmp`: a rule matches ports or ICMP, not both.
pub const PORTS_AND_ICMP: &str = "E0404";
/// `allow icmpv6 from 10.0.0.0/8`, forward `from 10.0.0.0/8 to fd00::/64`: can never match.
pub const FAMILY_MISMATCH: &str = "E0405";
/// `allow ssh tcp 2222`: ports differ from the catalog's (the written ports win).
pub const CATALOG_MISMATCH: &str = "W0001";
/// A rule that an earlier rule fully covers: it never matches.
pub const SHADOWED: &str = "W0002";
/// Overlapping ports in rules with different verdicts: the earlier one wins the overlap.
pub const OVERLAP: &str = "W0003";
/// `drop icmpv6 nd-neighbor-solicit`: neighbour discovery is accepted before any rule.
pub const ALWAYS_ACCEPTED: &str = "W0004";
/// The rule order check ran out of its comparison budget: later rules were not checked.
pub const ORDER_CHECK_STOPPED: &str = "W0005";
