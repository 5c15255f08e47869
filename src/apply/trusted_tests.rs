//! The table record: round trip, refusal of a damaged, stale, foreign or other-table
//! record, and a commit's handles lined up with its rules.

use super::patch::{MAGIC, SUM_LEN};
use super::*;
use crate::ir::{ChainPolicy, Hook, L4Proto, Match, PortMatch, SetKey};

#[path = "../../tests/support/build/ir.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod build;
use build::{accept, base, iv, ruleset, set};

pub(super) fn ns(cookie: u64) -> NetnsId {
    NetnsId {
        boot: "b9dbfc08-6cd0-4d6e-ba18-8a6478c471b2".into(),
        cookie: Some(cookie),
        inode: "4:4026531840".into(),
    }
}

fn policy() -> Ruleset {
    let rules = vec![
        accept(vec![Match::Dport(L4Proto::Tcp, PortMatch::Port(22))]),
        accept(vec![Match::Dport(L4Proto::Udp, PortMatch::Port(53))]),
    ];
    let v6 = set(
        "block6",
        SetKey::Ipv6Addr,
        vec![iv(1, 1), iv(u128::MAX - 7, u128::MAX)],
    );
    let mut icmp = set("icmp", SetKey::IcmpType, vec![iv(0, 0), iv(3, 4), iv(8, 8)]);
    icmp.interval = false;
    ruleset(
        vec![
            set("block4", SetKey::Ipv4Addr, vec![iv(10, 20), iv(30, 30)]),
            v6,
            icmp,
        ],
        vec![base("input", Hook::Input, ChainPolicy::Drop, rules)],
    )
}

fn handles(rs: &Ruleset) -> Vec<(String, u64)> {
    let mut h = 40;
    (rs.table.chains.iter())
        .flat_map(|c| c.rules.iter().map(move |_| c.name.clone()))
        .map(|c| {
            h += 1;
            (c, h)
        })
        .collect()
}

fn record() -> TableRecord {
    let rs = policy();
    TableRecord::of_commit(&rs, 7, ns(1), &handles(&rs)).expect("lines up")
}

/// The record of a commit of a policy whose one set holds `n` IPv4 intervals.
pub(super) fn record_of_intervals(n: u128) -> TableRecord {
    let rules = vec![accept(vec![Match::Dport(
        L4Proto::Tcp,
        PortMatch::Port(22),
    )])];
    let elements = (0..n).map(|i| iv(i * 4, i * 4 + 1)).collect();
    let rs = ruleset(
        vec![set("block4", SetKey::Ipv4Addr, elements)],
        vec![base("input", Hook::Input, ChainPolicy::Drop, rules)],
    );
    TableRecord::of_commit(&rs, 7, ns(1), &handles(&rs)).expect("lines up")
}

#[test]
fn a_record_round_trips_and_plans_nothing_against_its_own_policy_issue14() {
    let rec = record();
    let back = TableRecord::decode(&rec.encode()).expect("decodes");
    assert_eq!(back, rec);
    // Non-interval sets are kept as the single values the kernel stores.
    let icmp = &back.live.sets[2];
    assert_eq!(
        icmp.elements.to_vec(),
        vec![iv(0, 0), iv(3, 3), iv(4, 4), iv(8, 8)]
    );
    assert_eq!(back.live.chains[0].rules[1].0, 42);
    let rs = policy();
    let live = back
        .trusted_at("hostwall", Some(&ns(1)), 7)
        .expect("trusted");
    match delta::plan(&live, &rs) {
        delta::Decision::Delta(d) => assert!(d.is_empty(), "{d:?}"),
        delta::Decision::Full(why) => panic!("full: {why}"),
    }
}

#[test]
fn a_damaged_truncated_or_padded_record_is_refused_issue14() {
    let bytes = record().encode();
    let body = MAGIC.len() + SUM_LEN + 4;
    // One element byte flipped: the checksum no longer matches.
    let mut flipped = bytes.clone();
    flipped[body] ^= 1;
    let e = TableRecord::decode(&flipped).err();
    assert_eq!(
        e.as_deref(),
        Some("its checksum does not match its content")
    );
    // Cut short, or anything appended.
    assert!(TableRecord::decode(&bytes[..bytes.len() - 3]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(TableRecord::decode(&longer).is_err());
    assert!(TableRecord::decode(&bytes[..body - 1]).is_err());
    // Another version's magic line.
    let mut other = bytes.clone();
    other[MAGIC.len() - 2] = b'9';
    let e = TableRecord::decode(&other).err();
    assert_eq!(e.as_deref(), Some("not a table record of this version"));
    // A forged body with its checksum recomputed still has to pass the meta checks:
    // a set count larger than the elements there are is refused, not read past.
    let (rest, len) = bytes[body..].split_at(bytes.len() - body - 4);
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let (elements, json) = rest.split_at(rest.len() - len);
    let json = String::from_utf8_lossy(json).replace("\"count\":2", "\"count\":9");
    let mut forged_body = elements.to_vec();
    patch::close_body(&mut forged_body, json.as_bytes());
    let mut forged = Vec::new();
    let at = patch::begin(&mut forged, MAGIC);
    forged.extend_from_slice(&forged_body);
    patch::seal(&mut forged, at);
    assert!(TableRecord::decode(&forged).is_err());
}

/// `policy()` with block4 changed (one element gone, one new) and a set added.
fn policy_b() -> Ruleset {
    let mut rs = policy();
    rs.table.sets[0].elements = vec![iv(10, 20), iv(40, 45)].into();
    rs.table.sets.push(set(
        "block4b",
        SetKey::Ipv4Addr,
        vec![iv(7, 9), iv(100, 100)],
    ));
    rs
}

/// The patch of the in-place change from the record `from` to `to`, at `genid`.
fn patch_to(from: &[u8], to: &Ruleset, genid: u32) -> Vec<u8> {
    let live = TableRecord::decode(from).expect("decodes").live;
    let delta::Decision::Delta(d) = delta::plan(&live, to) else {
        panic!("not in place")
    };
    let changes = changes_of(&d);
    TableRecord::encode_commit_as(to, (genid, &ns(1)), &handles(to), Some(&changes))
        .expect("lines up")
}

#[test]
fn a_record_with_patches_reads_as_the_record_of_the_last_commit_issue14() {
    let (a, b) = (policy(), policy_b());
    let mut c = policy_b();
    c.table.sets[3].elements = vec![iv(100, 100)].into();
    let full = |rs: &Ruleset, genid| {
        TableRecord::encode_commit(rs, genid, &ns(1), &handles(rs)).expect("lines up")
    };
    let mut bytes = full(&a, 7);
    let to_b = patch_to(&bytes, &b, 8);
    bytes.extend_from_slice(&to_b);
    assert_eq!(
        TableRecord::decode(&bytes),
        TableRecord::decode(&full(&b, 8))
    );
    let to_c = patch_to(&bytes, &c, 9);
    bytes.extend_from_slice(&to_c);
    assert_eq!(
        TableRecord::decode(&bytes),
        TableRecord::decode(&full(&c, 9))
    );
    let (_, layout) = TableRecord::decode_if(&bytes, &|_| Ok(())).expect("decodes");
    assert_eq!(layout.count, 2);
    assert_eq!(layout.record + layout.patches, bytes.len());
    // Trusted at the last patch's generation only.
    let at = |g| {
        TableRecord::decode(&bytes)
            .expect("decodes")
            .check_at("hostwall", Some(&ns(1)), g)
    };
    assert!(at(9).is_ok());
    assert!(at(8).is_err());
    // A patch made for other elements does not apply: block4 without 30, which the
    // patch to b removes.
    let mut other = a.clone();
    other.table.sets[0].elements = vec![iv(10, 20)].into();
    let mut wrong = full(&other, 7);
    wrong.extend_from_slice(&to_b);
    let e = TableRecord::decode(&wrong).err().unwrap_or_default();
    assert!(e.contains("does not apply"), "{e}");
    // A damaged, cut or doubled patch is refused.
    let with_b = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut v = full(&a, 7);
        let mut p = to_b.clone();
        edit(&mut p);
        v.extend_from_slice(&p);
        TableRecord::decode(&v)
    };
    assert!(with_b(&|p| *p.last_mut().expect("bytes") ^= 1).is_err());
    assert!(with_b(&|p| p.truncate(p.len() - 1)).is_err());
    assert!(with_b(&|p| p.truncate(10)).is_err());
    assert!(
        with_b(&|p| p.extend_from_slice(&p.clone())).is_err(),
        "applied twice"
    );
    // A patch of another namespace, or naming a set twice, is refused.
    let live = TableRecord::decode(&full(&a, 7)).expect("decodes").live;
    let delta::Decision::Delta(d) = delta::plan(&live, &b) else {
        panic!("not in place")
    };
    let refused = |rs: &Ruleset, netns: NetnsId| {
        let mut v = full(&a, 7);
        let p = TableRecord::encode_commit_as(rs, (8, &netns), &handles(rs), Some(&changes_of(&d)));
        v.extend_from_slice(&p.expect("lines up"));
        TableRecord::decode(&v).err().unwrap_or_default()
    };
    let e = refused(&b, ns(2));
    assert!(e.contains("another table or namespace"), "{e}");
    let mut twice = b.clone();
    twice
        .table
        .sets
        .push(set("block4b", SetKey::Ipv4Addr, vec![]));
    let e = refused(&twice, ns(1));
    assert!(e.contains("named twice"), "{e}");
}

#[test]
fn a_patch_goes_only_to_the_very_file_planned_from_and_within_bounds_issue14() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = path(&dir.path().join("state"), None);
    store(&p, &record()).expect("store");
    let (_, origin) = live_from(&p, "hostwall", Some(&ns(1)), 7).expect("trusted");
    let to_b = patch_to(&std::fs::read(&p).expect("read"), &policy_b(), 8);
    // Over a quarter of the record (this one is tiny: its table holds 8 elements), or
    // one patch too many: not appended. As if the record were 4 times the patch: it is.
    assert_eq!(patch::append(&p, &origin, &to_b), Ok(false));
    let sized = |record, count| Origin {
        layout: Layout {
            record,
            count,
            ..Layout::default()
        },
        ..origin
    };
    assert_eq!(
        patch::append(&p, &sized(4 * to_b.len() - 1, 0), &to_b),
        Ok(false)
    );
    assert_eq!(
        patch::append(&p, &sized(4 * to_b.len(), MAX_PATCHES), &to_b),
        Ok(false)
    );
    // Patches that already copy more elements when read than the record holds: not
    // appended either.
    let copying = Origin {
        layout: Layout {
            work: 9,
            elements: 8,
            ..sized(4 * to_b.len(), 0).layout
        },
        ..origin
    };
    assert_eq!(patch::append(&p, &copying, &to_b), Ok(false));
    assert_eq!(
        patch::append(&p, &sized(4 * to_b.len(), 0), &to_b),
        Ok(true)
    );
    let b = TableRecord::of_commit(&policy_b(), 8, ns(1), &handles(&policy_b())).expect("lines up");
    assert_eq!(load(&p), Ok(Some(b)));
    // The file changed since: the same origin no longer takes a patch.
    assert_eq!(patch::append(&p, &sized(1 << 20, 0), &to_b), Ok(false));
    let (_, now) = live_from(&p, "hostwall", Some(&ns(1)), 8).expect("trusted");
    assert_eq!(now.layout.count, 1);
    // What reading the patch copied: the sets it changed, as they were before it.
    assert!(
        now.layout.work > 0 && now.layout.work <= now.layout.elements,
        "{:?}",
        now.layout
    );
    // Never through a link, nor into a file others may write, whatever the stamp says.
    let roomy = sized(1 << 20, 0);
    let elsewhere = dir.path().join("elsewhere");
    std::fs::write(&elsewhere, b"x").expect("write");
    let q = path(&dir.path().join("state"), Some("other"));
    std::os::unix::fs::symlink(&elsewhere, &q).expect("symlink");
    assert_eq!(patch::append(&q, &roomy, &to_b), Ok(false));
    assert_eq!(std::fs::read(&elsewhere).expect("read"), b"x");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let before = std::fs::read(&p).expect("read");
    let fresh = Origin {
        layout: Layout {
            record: 1 << 20,
            ..now.layout
        },
        ..now
    };
    assert!(patch::append(&p, &fresh, &to_b).is_err());
    assert_eq!(std::fs::read(&p).expect("read"), before);
}

#[test]
fn only_the_same_table_namespace_and_generation_are_trusted_issue14() {
    let why = |r: Result<LiveTable, String>| r.err().unwrap_or_default();
    assert!(record().trusted_at("hostwall", Some(&ns(1)), 7).is_ok());
    assert_eq!(
        why(record().trusted_at("hostwall", Some(&ns(1)), 8)),
        "the ruleset moved on since (generation 7 -> 8)"
    );
    assert_eq!(
        why(record().trusted_at("hostwall", Some(&ns(2)), 7)),
        "it was written in another network namespace"
    );
    assert_eq!(
        why(record().trusted_at("hostwall", None, 7)),
        "it was written in another network namespace"
    );
    assert_eq!(
        why(record().trusted_at("other", Some(&ns(1)), 7)),
        "it is of table hostwall"
    );
}

#[test]
fn handles_that_do_not_line_up_keep_no_record_issue14() {
    let rs = policy();
    let h = handles(&rs);
    assert!(TableRecord::of_commit(&rs, 7, ns(1), &h[..1]).is_none());
    let mut extra = h.clone();
    extra.push(("forward".into(), 99));
    assert!(TableRecord::of_commit(&rs, 7, ns(1), &extra).is_none());
}

/// A table with a per-source limit's dynamic set keeps a record: the set with its
/// timeout and without elements (they are the kernel's), through encode and decode.
#[test]
fn a_dynamic_set_is_recorded_without_its_elements_issue14() {
    let mut rs = policy();
    let h = handles(&rs);
    rs.table.sets[0].timeout_ms = Some(20_000);
    rs.table.sets[0].interval = false;
    let rec = TableRecord::of_commit(&rs, 7, ns(1), &h).expect("a record");
    let s = &rec.live.sets[0];
    assert_eq!((s.timeout_ms, s.elements.len()), (Some(20_000), 0));
    let back = TableRecord::decode(&rec.encode()).expect("decodes");
    assert_eq!(back, rec);
    // The plain set of the same table keeps its elements and no timeout.
    assert!(
        back.live
            .sets
            .iter()
            .skip(1)
            .all(|s| s.timeout_ms.is_none())
    );
}

#[test]
fn store_and_load_go_through_the_trusted_state_dir_issue14() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let p = path(&state, Some("lab"));
    assert!(p.ends_with("applied-lab.table"));
    assert_eq!(load(&p), Ok(None));
    store(&p, &record()).expect("store");
    assert_eq!(load(&p), Ok(Some(record())));
    assert!(live_at(&p, "hostwall", Some(&ns(1)), 7).is_ok());
    // A directory others may write to is not trusted.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    assert!(load(&p).is_err());
    assert!(live_at(&p, "hostwall", Some(&ns(1)), 7).is_err());
}

#[test]
fn a_record_kept_after_inspect_is_used_only_while_the_file_is_the_same_issue14() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let p = path(&state, None);
    store(&p, &record()).expect("store");
    let genid = |p: &Path| inspect(p, |r| r.genid);
    assert_eq!(genid(&p), Ok(Some(7)));
    assert_eq!(load(&p), Ok(Some(record())));
    // Damaged in place, same size and inode: the change time moved, so it is read
    // again and refused, not answered from what was kept.
    assert_eq!(genid(&p), Ok(Some(7)));
    let mut bytes = std::fs::read(&p).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::thread::sleep(std::time::Duration::from_millis(5));
    std::fs::write(&p, &bytes).expect("write in place");
    assert!(load(&p).is_err());
    // Replaced by another record: the new one is read.
    store(&p, &record()).expect("store");
    assert_eq!(genid(&p), Ok(Some(7)));
    let mut newer = record();
    newer.genid = 9;
    store(&p, &newer).expect("store");
    assert_eq!(load(&p), Ok(Some(newer)));
    // Removed: nothing, whatever was kept.
    assert_eq!(genid(&p), Ok(Some(9)));
    std::fs::remove_file(&p).expect("rm");
    assert_eq!(load(&p), Ok(None));
    // The directory is judged on every load.
    store(&p, &record()).expect("store");
    assert_eq!(genid(&p), Ok(Some(7)));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    assert!(load(&p).is_err());
}

/// A record refused for its header is refused again, for the same reason, while the file
/// is the same (the header it was refused for is kept); one that may stand for the table
/// now is read, and a file changed since is judged anew.
#[test]
fn a_refused_record_is_refused_again_by_its_header_while_the_file_is_the_same_issue14() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let p = path(&state, None);
    store(&p, &record()).expect("store");
    let at = |genid| live_at(&p, "hostwall", Some(&ns(1)), genid);
    let why = at(8).expect_err("generation 7 cannot stand for 8");
    assert!(why.contains('7') && why.contains('8'), "{why}");
    assert_eq!(at(8).expect_err("again"), why);
    assert_eq!(at(7).map(|l| l.sets.len()), Ok(record().live.sets.len()));
    assert!(at(9).expect_err("refused").contains('9'));
    // Damaged in place after the refusal: read again, so refused for the damage.
    let mut bytes = std::fs::read(&p).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::thread::sleep(std::time::Duration::from_millis(5));
    std::fs::write(&p, &bytes).expect("write in place");
    let damaged = at(7).expect_err("damaged");
    assert!(damaged.contains("unusable"), "{damaged}");
}

#[test]
fn a_commit_is_encoded_from_the_ruleset_as_its_record_would_be_issue14() {
    let rs = policy();
    let h = handles(&rs);
    let same = |rs: &Ruleset, h: &[(String, u64)]| {
        let direct = TableRecord::encode_commit(rs, 7, &ns(1), h);
        let via = TableRecord::of_commit(rs, 7, ns(1), h).map(|r| r.encode());
        assert_eq!(direct, via);
        direct
    };
    let bytes = same(&rs, &h).expect("lines up");
    assert_eq!(TableRecord::decode(&bytes), Ok(record()));
    // Interval, single-value (ranges expanded) and dynamic sets alike.
    let mut rs2 = policy();
    rs2.table.sets[0].interval = false;
    rs2.table.sets[1].timeout_ms = Some(5_000);
    assert!(same(&rs2, &h).is_some());
    // Handles that do not line up make no record either way.
    assert_eq!(same(&rs, &h[..1]), None);
}

/// A large record is judged by its chunks' descriptions before its elements are read:
/// one that cannot stand for the table now is refused for that even with damaged
/// elements (they were never read), and one that can is read whole and checked.
#[test]
fn a_large_record_that_cannot_stand_is_refused_before_its_elements_are_read_issue14() {
    let ivs = (0..20_000u128).map(|k| iv(2 * k, 2 * k)).collect();
    let rs = ruleset(
        vec![set("block4", SetKey::Ipv4Addr, ivs)],
        vec![base("input", Hook::Input, ChainPolicy::Drop, Vec::new())],
    );
    let rec = TableRecord::of_commit(&rs, 7, ns(1), &handles(&rs)).expect("lines up");
    let dir = tempfile::tempdir().expect("tempdir");
    let p = path(&dir.path().join("state"), None);
    store(&p, &rec).expect("store");
    let mut bytes = std::fs::read(&p).expect("read");
    assert!(bytes.len() as u64 >= patch::PEEK_FROM, "{}", bytes.len());
    let peek = |p: &Path| {
        let f = std::fs::File::open(p).expect("open");
        patch::peek(&f, f.metadata().expect("stat").len())
    };
    assert_eq!(peek(&p), Some(("hostwall".into(), ns(1), 7)));
    let middle = bytes.len() - 40_000;
    bytes[middle] ^= 1;
    std::fs::write(&p, &bytes).expect("write");
    let at = |genid| live_at(&p, "hostwall", Some(&ns(1)), genid);
    let stale = at(8).expect_err("generation 7 cannot stand for 8");
    assert!(stale.contains("moved on"), "{stale}");
    let damaged = at(7).expect_err("damaged");
    assert!(damaged.contains("checksum"), "{damaged}");
    // Chunks that cannot be walked: no description, and the whole file judges.
    std::fs::write(&p, &bytes[..100]).expect("write");
    assert_eq!(peek(&p), None);
}

/// A record drafted while the batch is in the kernel (its elements written first, its
/// description once the commit is known) is byte for byte the record written whole,
/// for sets of every kind and sets written in many pieces; until finished it is not in
/// place, and dropped unfinished it leaves the old record and no temp file.
#[test]
fn a_drafted_record_is_the_record_written_whole_issue14() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let p = path(&state, None);
    let mut large = policy();
    large.table.sets[0] = set(
        "block4",
        SetKey::Ipv4Addr,
        (0..100_001u128).map(|k| iv(4 * k, 4 * k + 1)).collect(),
    );
    large.table.sets[1] = set(
        "block6",
        SetKey::Ipv6Addr,
        (0..20_001u128)
            .map(|k| iv(k << 80, (k << 80) + 5))
            .collect(),
    );
    let mut kinds = policy();
    kinds.table.sets[0].interval = false;
    kinds.table.sets[1].timeout_ms = Some(5_000);
    for rs in [policy(), large, kinds] {
        let h = handles(&rs);
        let chains = commit_chains(&rs, &h).expect("lines up");
        let old = std::fs::read(&p).ok();
        let draft = Draft::start(&p, &rs).expect("drafted");
        assert!(
            std::fs::read(&p).ok() == old,
            "not in place before it is finished"
        );
        draft.finish((7, &ns(1)), &chains).expect("finished");
        let whole = TableRecord::encode_commit(&rs, 7, &ns(1), &h).expect("lines up");
        assert!(std::fs::read(&p).expect("read") == whole, "the same bytes");
        let rec = TableRecord::of_commit(&rs, 7, ns(1), &h);
        assert_eq!(load(&p).expect("loads"), rec);
    }
    let kept = std::fs::read(&p).expect("read");
    drop(Draft::start(&p, &policy()).expect("drafted"));
    assert!(
        std::fs::read(&p).expect("read") == kept,
        "the old record stays"
    );
    let names = || {
        let mut n: Vec<_> = (std::fs::read_dir(&state).expect("list"))
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    let record_name = p
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    assert_eq!(names(), vec![record_name.clone()]);
    // A process killed while drafting leaves its temp file; the next draft replaces it.
    std::mem::forget(Draft::start(&p, &policy()).expect("drafted"));
    assert_eq!(names().len(), 2, "{:?}", names());
    let rs = policy();
    let chains = commit_chains(&rs, &handles(&rs)).expect("lines up");
    let draft = Draft::start(&p, &rs).expect("drafted over the leftover");
    draft.finish((7, &ns(1)), &chains).expect("finished");
    assert_eq!(names(), vec![record_name]);
    assert_eq!(load(&p).expect("loads"), Some(record()));
}

/// A large record's description is read from its last chunk's end: a patch's, when the
/// file holds one, so a record whose patch moved it on stands at the patch's generation.
#[test]
fn peek_reads_the_description_of_the_last_patch_issue14() {
    let rs = |extra: Option<u128>| {
        let mut ivs: Vec<_> = (0..20_000u128).map(|k| iv(2 * k, 2 * k)).collect();
        ivs.extend(extra.map(|x| iv(x, x)));
        ruleset(
            vec![set("block4", SetKey::Ipv4Addr, ivs)],
            vec![base("input", Hook::Input, ChainPolicy::Drop, Vec::new())],
        )
    };
    let (a, b) = (rs(None), rs(Some(1_000_000)));
    let mut bytes = TableRecord::encode_commit(&a, 7, &ns(1), &handles(&a)).expect("lines up");
    bytes.extend(patch_to(&bytes, &b, 8));
    let dir = tempfile::tempdir().expect("tempdir");
    let p = path(&dir.path().join("state"), None);
    crate::safe::trust::ensure_dir(p.parent().expect("a directory")).expect("state dir");
    store_bytes(&p, &bytes).expect("store");
    assert!(bytes.len() as u64 >= patch::PEEK_FROM, "{}", bytes.len());
    let f = std::fs::File::open(&p).expect("open");
    let size = f.metadata().expect("stat").len();
    assert_eq!(patch::peek(&f, size), Some(("hostwall".into(), ns(1), 8)));
    let live = live_at(&p, "hostwall", Some(&ns(1)), 8).expect("stands at the patch's");
    assert_eq!(live.sets[0].elements.len(), 20_001);
    let stale = live_at(&p, "hostwall", Some(&ns(1)), 7).expect_err("moved on");
    assert!(stale.contains("moved on"), "{stale}");
}
