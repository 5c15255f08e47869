//! `hostwall import firewalld` proven packet by packet: seven configurations built with
//! `firewall-offline-cmd` (`SETUPS`, `QUIRKS` and `POLICIES`), firewalld's own nftables ruleset for each (made by firewalld's
//! code in a throwaway namespace), and `hostwall verify POLICY --against RULESET` between
//! them (`support::firewalld::compare`). Every open-versus-closed difference must be one
//! the import listed; the rest differ only in how a refusal looks (a TCP reset against
//! firewalld's ICMP admin-prohibited). boot-tests/import.rs proves the same against the
//! real daemon under systemd.

use crate::support::firewalld;

#[test]
#[ignore = "needs root"]
fn imported_policies_match_firewalld_packet_by_packet() {
    crate::support::root::require();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut problems = Vec::new();
    for s in (firewalld::SETUPS.iter())
        .chain(firewalld::QUIRKS)
        .chain(firewalld::POLICIES)
    {
        let etc = firewalld::build(s, tmp.path());
        let rules = tmp.path().join(format!("{}.nft", s.name));
        firewalld::ruleset(&etc, &rules);
        let nft = std::fs::read_to_string(&rules).expect("ruleset");
        assert!(
            nft.contains("table inet firewalld"),
            "{}: firewalld made no table:\n{nft}",
            s.name
        );
        problems.extend(firewalld::compare(s.name, &etc, &rules, tmp.path()).problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
