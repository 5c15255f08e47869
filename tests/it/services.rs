//! The service catalog against firewalld's own service files, the generated list of
//! firewalld services it does not carry, docs/services.md's table, and `hostwall services`.

use crate::support::{cli, corpus, golden};
use hostwall::check::catalog::{self, Reference};
use hostwall::import::service::{self, Service};
use std::collections::BTreeMap;
use std::path::Path;

/// firewalld's services directory (the `firewalld` package; .ci/run installs it).
const FIREWALLD_SERVICES: &str = "/usr/lib/firewalld/services";

/// Every service file of the directory, by name; panics (never skips) when it is missing.
fn firewalld_services() -> BTreeMap<String, Service> {
    let dir = Path::new(FIREWALLD_SERVICES);
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| {
        panic!("{FIREWALLD_SERVICES}: {e}: install the firewalld package (do not start it)")
    });
    let mut out = BTreeMap::new();
    for e in entries.flatten() {
        let path = e.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(name) = name.strip_suffix(".xml") else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let file = path.display().to_string();
        let s = service::parse(&file, name, &text).unwrap_or_else(|e| panic!("{e:?}"));
        out.insert(name.to_string(), s);
    }
    assert!(
        out.len() > 100,
        "{FIREWALLD_SERVICES} holds {} services",
        out.len()
    );
    out
}

fn sorted(
    mut p: Vec<(hostwall::model::Proto, u16, u16)>,
) -> Vec<(hostwall::model::Proto, u16, u16)> {
    p.sort();
    p.dedup();
    p
}

/// Each entry referring to firewalld has exactly firewalld's ports; an entry that keeps
/// its own ports says why and really differs; anything a file has beyond ports (helpers,
/// destinations) is in the entry's note; a guide entry has no firewalld namesake.
#[test]
fn every_catalog_entry_matches_its_firewalld_service() {
    let fw = firewalld_services();
    let mut bad = Vec::new();
    for b in catalog::CATALOG {
        let ours = sorted(b.ports.to_vec());
        let file = b.reference.firewalld_file();
        let Some(s) = file.and_then(|f| fw.get(f)) else {
            match b.reference {
                Reference::Guide if fw.contains_key(b.name) => bad.push(format!(
                    "{}: firewalld has {}.xml; refer to it",
                    b.name, b.name
                )),
                Reference::Guide | Reference::Upstream(..) => {}
                _ => bad.push(format!(
                    "{}: {FIREWALLD_SERVICES}/{file:?}.xml is missing",
                    b.name
                )),
            }
            continue;
        };
        let theirs = (s.ports.iter())
            .filter_map(|p| Some((service::proto(&p.proto)?, p.range?.0, p.range?.1)))
            .collect();
        let theirs = sorted(theirs);
        let expressible =
            (s.ports.iter()).all(|p| service::proto(&p.proto).is_some() && p.range.is_some());
        let same = ours == theirs && expressible;
        match b.reference {
            Reference::Differs(..) if same => {
                bad.push(format!("{}: says it differs, but does not", b.name))
            }
            Reference::Differs(..) => {}
            _ if !same => bad.push(format!("{}: ours {ours:?}, firewalld {theirs:?}", b.name)),
            _ => {}
        }
        let extra = !(s.helpers.is_empty()
            && s.destinations.is_empty()
            && s.protocols.is_empty()
            && s.source_ports.is_empty()
            && s.includes.is_empty());
        if extra && b.note.is_empty() {
            bad.push(format!(
                "{}: firewalld's has `{}`; say what we do in its note",
                b.name,
                s.summary()
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The list of firewalld services we do not carry is exactly the directory minus the
/// catalog, each with what it opens (`UPDATE_EXPECT=1` regenerates the file).
#[test]
fn the_not_carried_list_is_firewalld_minus_the_catalog() {
    let fw = firewalld_services();
    let carried: Vec<&str> = catalog::CATALOG
        .iter()
        .filter_map(|b| b.reference.firewalld_file())
        .collect();
    let mut text = String::from(
        "//! firewalld's services that the catalog does not carry, with what each opens, sorted by\n\
         //! name: unknown names are told they are firewalld's. Generated from firewalld 1.3's\n\
         //! /usr/lib/firewalld/services by `UPDATE_EXPECT=1 cargo test --test it services`; that\n\
         //! test fails while this list and the installed files disagree.\n\n\
         #[rustfmt::skip]\n\
         pub(super) const NOT_CARRIED: &[(&str, &str)] = &[\n",
    );
    let mut names: Vec<&String> = fw
        .keys()
        .filter(|n| !carried.contains(&n.as_str()))
        .collect();
    names.sort();
    for n in names {
        text.push_str(&format!("    ({n:?}, {:?}),\n", fw[n].summary()));
    }
    text.push_str("];\n");
    let path = corpus::repo().join("src/check/catalog/firewalld.rs");
    golden::compare(&path, &text).unwrap_or_else(|e| panic!("{e}"));
}

/// docs/services.md's table is the catalog's (`UPDATE_EXPECT=1` rewrites the table).
#[test]
fn the_services_doc_shows_the_catalog() {
    let path = corpus::repo().join("docs/services.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let (start, end) = (
        "<!-- catalog table: generated -->\n",
        "<!-- end of catalog table -->",
    );
    let (Some(a), Some(b)) = (doc.find(start), doc.find(end)) else {
        panic!("docs/services.md lacks the `{start}` … `{end}` markers");
    };
    let want = format!(
        "{}{start}{}{}",
        &doc[..a],
        catalog::markdown_table(),
        &doc[b..]
    );
    golden::compare(&path, &want).unwrap_or_else(|e| panic!("{e}"));
}

/// `hostwall services --format json` against docs/schema/services.schema.json.
fn validate(doc: &serde_json::Value) -> Result<(), String> {
    crate::support::schema::validate("services", doc)
}

fn json_of(args: &[&str]) -> serde_json::Value {
    let o = cli::hostwall(args);
    assert_eq!(o.status.code(), Some(0), "{}", cli::text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", cli::text(&o.stdout)))
}

#[test]
fn services_json_validates_and_lists_every_entry() {
    let all = json_of(&["services", "--format", "json"]);
    validate(&all).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = all["services"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names.len(), catalog::CATALOG.len());
    for n in [
        "vdsm",
        "ovirt-imageio",
        "cockpit",
        "nfs3",
        "glusterfs",
        "zabbix-agent",
        "dhcpv6-client",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    let one = json_of(&["services", "libvirt-tcp", "--format", "json"]);
    validate(&one).unwrap_or_else(|e| panic!("{e}"));
    let s = &one["services"][0];
    assert_eq!(
        (s["name"].as_str(), s["aliases"][0].as_str()),
        (Some("libvirt"), Some("libvirt-tcp"))
    );
    assert_eq!(
        s["ports"],
        serde_json::json!([{ "protocol": "tcp", "first": 16509, "last": 16509 }])
    );
    assert_eq!(
        s["reference"],
        serde_json::json!({ "kind": "firewalld", "file": "libvirt.xml" })
    );
    let snmp = json_of(&["services", "snmp", "--format", "json"]);
    assert_eq!(snmp["services"][0]["reference"]["kind"], "differs");
    // The schema is not vacuous: documents that break it are refused.
    let broken: [fn(&mut serde_json::Value); 4] = [
        |d| d["services"][0]["ports"][0]["protocol"] = "icmp".into(),
        |d| d["services"][0]["reference"] = serde_json::json!({ "kind": "firewalld" }),
        |d| d["services"] = serde_json::json!([]),
        |d| d["services"][0]["note"] = "".into(),
    ];
    for (i, b) in broken.iter().enumerate() {
        let mut d = one.clone();
        b(&mut d);
        assert!(validate(&d).is_err(), "broken document {i} validated");
    }
}

#[test]
fn services_text_lists_ports_and_references_and_refuses_unknown_names() {
    let o = cli::hostwall(&["services"]);
    let out = cli::text(&o.stdout);
    assert_eq!(o.status.code(), Some(0));
    let line = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(str::to_string)
    };
    let vdsm = line("vdsm").expect("vdsm row");
    assert!(
        vdsm.contains("tcp 54321, 5900-6923, 49152-49216") && vdsm.ends_with("firewalld vdsm.xml"),
        "{vdsm}"
    );
    let libvirt = line("libvirt").expect("libvirt row");
    assert!(libvirt.contains("(libvirt-tcp)"), "{libvirt}");
    assert!(line("spice").is_some_and(|l| l.ends_with("host-security guide")));
    let o = cli::hostwall(&["services", "tftp"]);
    let out = cli::text(&o.stdout);
    assert!(
        out.contains("ports:     udp 69") && out.contains("conntrack helper"),
        "{out}"
    );
    let o = cli::hostwall(&["services", "libvirtd"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(cli::text(&o.stderr).contains("did you mean `libvirt`?"));
    let o = cli::hostwall(&["services", "mysql"]);
    assert_eq!(o.status.code(), Some(1));
    let err = cli::text(&o.stderr);
    assert!(
        err.contains("`mysql` is a firewalld service (tcp 3306)")
            && err.contains("`service mysql tcp 3306`"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

/// `allow libvirtd` in a policy: E0101 with the firewalld name; a firewalld service we do
/// not carry is said to be one, at its place.
#[test]
fn check_points_unknown_services_at_firewalld_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("p.policy");
    std::fs::write(
        &p,
        "policy t {\n    allow libvirtd\n    allow postgresql from 10.0.0.0/8\n}\n",
    )
    .expect("write");
    let o = cli::hostwall(&["check", p.to_str().expect("utf-8"), "--color", "never"]);
    assert_eq!(o.status.code(), Some(1));
    let err = cli::text(&o.stderr);
    assert!(
        err.contains("p.policy:2:11") && err.contains("did you mean `libvirt`?"),
        "{err}"
    );
    assert!(
        err.contains("p.policy:3:11") && err.contains("`service postgresql tcp 5432`"),
        "{err}"
    );
}
