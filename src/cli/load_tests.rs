//! Tests of `load`: the unparsed read, the digests and checksums of the inputs, shedding.

use super::*;
use hostwall::text::decode;

/// [`inputs_digest`] computed without parsing, with no record's checksum to compare.
fn inputs_digest_unparsed(input: &Input, includes: &[String]) -> Option<String> {
    match inputs_now(input, includes, None)? {
        Now::Digest(digest) => Some(digest),
        Now::Changed => None,
    }
}

#[test]
fn a_large_input_is_shed_after_its_digest_and_read_back_only_unchanged_issue14() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("p.policy");
    let inc = dir.path().join("inc.policy");
    // 300,000 /30s (5 MiB) in the include, the policy small.
    let list: Vec<String> = (0..300_000u32)
        .map(|i| {
            let v = i * 8;
            format!("10.{}.{}.{}/30", v >> 16 & 255, v >> 8 & 255, v & 255)
        })
        .collect();
    std::fs::write(&inc, format!("define big = {}\n", list.join(", "))).expect("write");
    let text = "include \"inc.policy\"\npolicy p {\n    allow ssh tcp 22 from big\n}\n";
    std::fs::write(&policy, text).expect("write");
    let input = Input {
        policy: Some(policy.clone()),
        site: None,
    };
    let mut loaded = load(&input).expect("load");
    assert!(loaded.policy.is_some(), "{:?}", loaded.diagnostics);
    let digest = digest_texts(&loaded, false);
    let before = loaded.map.clone();
    loaded.shed_large();
    let shed: Vec<_> = (loaded.map.files())
        .filter(|(id, _)| loaded.map.is_shed(*id))
        .map(|(_, f)| f.name.clone())
        .collect();
    assert_eq!(shed, vec![inc.display().to_string()], "only the large file");
    assert_eq!(
        inputs_digest(&loaded, false),
        digest,
        "taken before shedding"
    );
    let restored = loaded.restored_map().expect("read back");
    for ((_, a), (_, b)) in restored.files().zip(before.files()) {
        assert!(a.text == b.text, "{}", a.name);
    }
    // The include rewritten since the check: not taken back.
    std::fs::write(&inc, "define big = 10.0.0.0/30\n").expect("write");
    let err = loaded.restored_map().map(|_| ()).expect_err("changed");
    assert!(err.contains("changed since it was checked"), "{err}");
}

/// The digest a loaded policy reports is always the digest of the texts it was
/// compiled from, whether the unparsed read's digest was reused or not.
#[test]
fn a_reused_inputs_digest_is_the_digest_of_the_loaded_texts_issue14() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("p.policy");
    let inc = dir.path().join("inc.policy");
    let write = |p: &Path, t: &str| std::fs::write(p, t).expect("write");
    write(&inc, "define big = 10.0.0.0/30, 10.0.0.8/30\n");
    let body = |extra: &str| {
        format!(
            "include \"inc.policy\"\n{extra}policy input {{\n    allow ssh tcp 22 from big\n}}\n"
        )
    };
    write(&policy, &body(""));
    let input = Input {
        policy: Some(policy.clone()),
        site: None,
    };
    let incs = vec![canonical(&inc.display().to_string())];
    let check = |unparsed: Option<String>, reused: bool| {
        let loaded = load(&input).expect("load");
        assert!(loaded.policy.is_some(), "{:?}", loaded.diagnostics);
        let fresh = digest_texts(&loaded, false);
        assert_eq!(loaded.digest.get().is_some(), reused);
        assert_eq!(inputs_digest(&loaded, false), fresh);
        if reused {
            assert_eq!(unparsed, Some(fresh.0));
        }
    };
    // Same files: the unparsed digest is the loaded one.
    check(inputs_digest_unparsed(&input, &incs), true);
    // Rewritten after the digest: the bytes hashed are the bytes compiled.
    let d = inputs_digest_unparsed(&input, &incs);
    write(&policy, &body("# changed\n"));
    write(&inc, "define big = 10.0.0.16/30\n");
    check(d, true);
    // The record's include list is not what the policy includes now: computed anew.
    check(inputs_digest_unparsed(&input, &[]), false);
    let other = dir.path().join("other.policy");
    write(&other, "# not included\n");
    check(
        inputs_digest_unparsed(&input, &[canonical(&other.display().to_string())]),
        false,
    );
    // No unparsed read at all.
    check(None, false);
}

/// The checksum of the unparsed read is the loaded texts' (a byte-order mark, an
/// include, a site file); a record with another checksum is answered `Changed`
/// without a digest, and the load then seeds the checksum alone.
#[test]
fn the_unparsed_checksum_is_the_loaded_texts_and_proves_a_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (policy, inc, site) = (
        dir.path().join("p.policy"),
        dir.path().join("inc.policy"),
        dir.path().join("site.toml"),
    );
    let write = |p: &Path, t: &[u8]| std::fs::write(p, t).expect("write");
    write(&inc, b"define big = 10.0.0.0/30, 10.0.0.8/30\n");
    write(
        &policy,
        b"\xEF\xBB\xBFinclude \"inc.policy\"\npolicy p {\n    allow ssh tcp 22 from big\n}\n",
    );
    write(&site, b"");
    let input = Input {
        policy: Some(policy.clone()),
        site: Some(site.clone()),
    };
    let incs = vec![canonical(&inc.display().to_string())];
    let fresh = |loaded: &Loaded| {
        let files: Vec<(String, usize, u64)> = (loaded.map.files())
            .map(|(_, f)| {
                (
                    canonical(&f.name),
                    f.text.len(),
                    hostwall::digest::checksum(f.text.as_bytes()),
                )
            })
            .collect();
        hostwall::record::inputs_checksum(files.iter().map(|(n, l, c)| (n.as_str(), *l, *c)))
    };
    // Read with no record's checksum to compare: the digest, and the checksum kept.
    let Some(Now::Digest(digest)) = inputs_now(&input, &incs, None) else {
        panic!("a digest");
    };
    let loaded = load(&input).expect("load");
    assert!(loaded.policy.is_some(), "{:?}", loaded.diagnostics);
    let sum = inputs_checksum(&loaded, true);
    assert_eq!(sum, fresh(&loaded), "the seeded checksum is the texts'");
    assert_eq!(inputs_digest(&loaded, true).0, digest);
    // The same checksum as recorded: the digest still decides.
    assert!(matches!(inputs_now(&input, &incs, Some(&sum)), Some(Now::Digest(d)) if d == digest));
    let _ = load(&input).expect("load");
    // The include edited: another checksum, so changed, and no digest taken.
    write(&inc, b"define big = 10.0.0.0/30, 10.0.0.9/32\n");
    assert!(matches!(
        inputs_now(&input, &incs, Some(&sum)),
        Some(Now::Changed)
    ));
    let loaded = load(&input).expect("load");
    assert!(loaded.digest.get().is_none(), "no digest to seed");
    assert_eq!(inputs_checksum(&loaded, true), fresh(&loaded));
    assert_ne!(inputs_checksum(&loaded, true), sum);
    let rec = hostwall::record::ApplyRecord {
        genid: 1,
        digest,
        includes: incs.clone(),
        table: "hostwall".into(),
        sysctls: Vec::new(),
        netns: None,
        warnings: None,
        policy: None,
        stamps: None,
        checksum: Some(sum.clone()),
    };
    assert!(inputs_differ(&loaded, true, &rec), "by the checksum");
    assert_eq!(
        digest_for(&input, &rec),
        None,
        "diff's fast path: changed, no digest"
    );
    // The read is kept for the load that follows it: taken here.
    let _ = load(&input).expect("load");
    assert!(
        inputs_differ(
            &loaded,
            true,
            &hostwall::record::ApplyRecord {
                checksum: None,
                ..rec.clone()
            }
        ),
        "by the digest"
    );
    write(&inc, b"define big = 10.0.0.0/30, 10.0.0.8/30\n");
    let loaded = load(&input).expect("load");
    assert!(!inputs_differ(&loaded, true, &rec), "the same inputs again");
    assert_eq!(digest_for(&input, &rec), Some(rec.digest.clone()));
}

/// A file that decodes without a problem is its bytes after a byte-order mark: the
/// unparsed digest, of those bytes, is the digest of the texts.
fn same(bytes: &[u8]) {
    let d = decode(bytes);
    if d.total == 0 {
        assert_eq!(unmarked(bytes), d.text.as_bytes(), "{bytes:?}");
    }
}

#[test]
fn the_inputs_digest_text_is_the_decoded_text() {
    for bytes in [
        &b""[..],
        b"table t\n\tallow tcp 22\n",
        b"\xEF\xBB\xBFwith a byte-order mark\n",
        b"crlf\r\nline\r\n",
        b"lone\rcarriage return",
        b"trailing cr\r",
        b"nul\0 esc\x1b del\x7f",
        "c1 \u{85} \u{9f} nbsp \u{a0} copy \u{a9} \u{e9}".as_bytes(),
        b"bad \xff utf-8 \xc3",
        b"\xEF\xBB\xBF\xEF\xBB\xBFtwo marks",
    ] {
        same(bytes);
    }
    // Hashed as bytes, the digest is the one of the decoded texts.
    let text = "policy p {\r\n    allow ssh\r\n}\r\n";
    let bytes = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
    assert_eq!(
        hostwall::record::inputs_digest_bytes([("p", unmarked(&bytes))]),
        hostwall::record::inputs_digest([("p", decode(&bytes).text.as_str())])
    );
}

proptest::proptest! {
    #[test]
    fn any_bytes_digest_as_decoded(bytes in proptest::collection::vec(
        proptest::prop_oneof![
            proptest::prelude::any::<u8>(),
            proptest::sample::select(b"\r\n\t\x7f\xc2\x85\x9f\xa0 a".to_vec()),
        ],
        0..200,
    )) {
        same(&bytes);
    }
}
