//! Issue #12 item 1: `apply` (plain, `--dry-run`, `--confirm`), `confirm`, `revert` and
//! `status` with `--format json`, each document from a real run in a namespace of the
//! test's own, validated against its schema in docs/schema/ and checked against the
//! kernel (generation ids, sysctls, what is live).

use crate::apply::{Env, exit};
use crate::support::schema::{assert_valid, validate};
use serde_json::Value;

const SSH: &str = "policy p {\n    default drop\n    allow ssh\n}\n";
const SSH_HTTP_FWD: &str =
    "policy p {\n    default drop\n    forwarding on\n    allow ssh\n    allow http\n}\n";
const BROKEN: &str = "policy p {\n    default drop\n    allow sshh\n    allow tcp 99999\n}\n";

/// Runs `cmd` with `--format json`; returns its exit code and its document (stdout must
/// be exactly one JSON document whatever the outcome).
fn run(env: &Env, cmd: &str, args: &[&str]) -> (i32, Value) {
    let mut full = vec!["--format", "json"];
    full.extend_from_slice(args);
    let out = if cmd == "apply" {
        env.apply(&full)
    } else {
        let state = env.state().to_string_lossy().into_owned();
        let log = env.log_args();
        let mut a = vec![cmd, "--netns", env.ns.name(), "--state-dir", &state];
        a.extend(log.iter().map(String::as_str));
        a.extend_from_slice(&full);
        crate::apply::hostwall(&a, &[])
    };
    let doc = crate::support::schema::document(cmd, &out);
    let code = out.status.code().unwrap_or(-1);
    (code, doc)
}

fn genid(env: &Env) -> u64 {
    u64::from(hostwall::live::genid(Some(env.ns.name())).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
#[ignore = "needs root"]
fn apply_documents_match_their_schema_and_the_kernel_issue12() {
    crate::support::root::require();
    let env = Env::new("hw-js");
    let ssh = env.file("ssh.policy", SSH);
    let ssh = ssh.to_string_lossy();
    let (code, first) = run(&env, "apply", &[&ssh]);
    assert_eq!(code, 0, "{first:#}");
    assert_eq!(first["changed"], true);
    assert_eq!(first["path"], "full");
    assert_eq!(first["generation"]["after"], genid(&env), "{first:#}");
    assert!(first["messages"].as_u64() > Some(0) && first["batch_bytes"].as_u64() > Some(0));
    assert_eq!(first["table"], "inet hostwall");

    // Again: nothing sent, the generation the kernel has.
    let before = genid(&env);
    let (code, again) = run(&env, "apply", &[&ssh]);
    assert_eq!(code, 0);
    assert_eq!(again["changed"], false, "{again:#}");
    assert_eq!(again["path"], "unchanged");
    assert_eq!(again["generation"]["before"], before);
    assert_eq!(again["generation"]["after"], before);
    assert_eq!(
        genid(&env),
        before,
        "an unchanged apply moved the generation"
    );

    // A dry run of a bigger policy: what would change, in the policy's terms; nothing sent.
    let more = env.file("more.policy", SSH_HTTP_FWD);
    let more = more.to_string_lossy();
    let table = env.ruleset();
    let (code, dry) = run(&env, "apply", &["--dry-run", &more]);
    assert_eq!(code, 0, "{dry:#}");
    assert_eq!(
        (&dry["changed"], &dry["in_sync"]),
        (&false.into(), &false.into())
    );
    let after: Vec<&str> = lines(&dry["view"]["after"]);
    let before_view: Vec<&str> = lines(&dry["view"]["before"]);
    assert!(after.contains(&"input: accept ssh, http"), "{after:?}");
    assert!(
        before_view.contains(&"input: accept ssh"),
        "{before_view:?}"
    );
    assert!(
        dry["changes"].as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["service"].as_str().is_some_and(|s| s.contains("http")))),
        "{dry:#}"
    );
    assert_eq!(
        dry["sysctls"][0],
        serde_json::json!({"name": "net.ipv4.ip_forward", "before": 0, "after": 1})
    );
    assert_eq!(genid(&env), before, "a dry run moved the generation");
    assert_eq!(env.ruleset(), table);

    // Applied: the sysctl it changed, as the namespace now has it.
    let (code, fwd) = run(&env, "apply", &[&more]);
    assert_eq!(code, 0, "{fwd:#}");
    assert_eq!(fwd["sysctls"][0]["after"], 1, "{fwd:#}");
    assert_eq!(sysctl(&env, "net.ipv4.ip_forward"), "1");
    assert_eq!(fwd["generation"]["after"], genid(&env));

    // A broken policy: every error with its place; nothing applied.
    let broken = env.file("broken.policy", BROKEN);
    let generation = genid(&env);
    let (code, bad) = run(&env, "apply", &[&broken.to_string_lossy()]);
    assert_eq!(code, 1, "{bad:#}");
    let places: Vec<(u64, u64)> = bad["diagnostics"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| {
                    (
                        e["line"].as_u64().unwrap_or(0),
                        e["column"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(places, [(3, 11), (4, 15)], "{bad:#}");
    assert_eq!(bad["diagnostics"][0]["code"], "E0101");
    assert_eq!(bad["error"]["kind"], "policy", "{bad:#}");
    assert!(bad.get("generation").is_none(), "{bad:#}");
    assert_eq!(bad["changed"], false);
    assert_eq!(
        genid(&env),
        generation,
        "a refused policy moved the generation"
    );
}

fn lines(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn sysctl(env: &Env, key: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", env.ns.name(), "sysctl", "-n", key])
        .output()
        .unwrap_or_else(|e| panic!("sysctl: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
#[ignore = "needs root"]
fn confirm_status_revert_documents_follow_a_pending_change_issue12() {
    crate::support::root::require();
    let env = Env::new("hw-js");
    let (code, none) = run(&env, "status", &[]);
    assert_eq!(code, 0);
    assert_eq!(
        (&none["pending"], &none["result"]),
        (&false.into(), &"nothing-pending".into())
    );
    assert_eq!(none["netns"], env.ns.name());

    let p = env.file("ssh.policy", SSH);
    let p = p.to_string_lossy();
    let (code, applied) = run(&env, "apply", &["--confirm", "60", &p]);
    assert_eq!(code, 0, "{applied:#}");
    let id = applied["pending"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!id.is_empty(), "{applied:#}");
    let left = applied["pending"]["left_secs"].as_u64().unwrap_or(0);
    assert!((55..=61).contains(&left), "{applied:#}");

    let (_, status) = run(&env, "status", &[]);
    assert_eq!(status["pending"], true, "{status:#}");
    assert_eq!(status["change"]["id"], id.as_str());
    assert_eq!(
        status["change"]["watcher"]["state"], "running",
        "{status:#}"
    );
    assert_eq!(status["change"]["deadline"], applied["pending"]["deadline"]);

    let (code, kept) = run(&env, "confirm", &[]);
    assert_eq!((code, &kept["result"]), (0, &"kept".into()), "{kept:#}");
    assert_eq!(kept["change"]["id"], id.as_str());
    let live = env.ruleset();
    assert!(live.contains("comment \"ssh\""), "{live}");

    // A second change, reverted on request: the previous table is back.
    let more = env.file("more.policy", SSH_HTTP_FWD);
    let (code, second) = run(&env, "apply", &["--confirm", "60", &more.to_string_lossy()]);
    assert_eq!(code, 0, "{second:#}");
    let (code, reverted) = run(&env, "revert", &[]);
    assert_eq!(
        (code, &reverted["result"]),
        (0, &"reverted".into()),
        "{reverted:#}"
    );
    assert_eq!(reverted["change"]["id"], second["pending"]["id"]);
    assert_eq!(
        env.ruleset(),
        live,
        "revert did not restore the confirmed table"
    );

    let (_, after) = run(&env, "status", &[]);
    assert_eq!(after["last"]["end"], "reverted", "{after:#}");
    assert_eq!(after["last"]["reason"], "requested");
    // Nothing left to keep: confirm says the last change was reverted, exit 1.
    let (code, late) = run(&env, "confirm", &[]);
    assert_eq!((code, &late["result"]), (1, &"reverted".into()), "{late:#}");
    assert!(
        late["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nothing to confirm")),
        "{late:#}"
    );
    assert!(late.get("change").is_none(), "{late:#}");
}

#[test]
#[ignore = "needs root"]
fn an_error_outside_the_policy_is_still_one_document_issue12() {
    crate::support::root::require();
    let env = Env::new("hw-js");
    let p = env.file("ssh.policy", SSH);
    // A namespace that does not exist: a system error, exit 2, in the document.
    let state = env.state().to_string_lossy().into_owned();
    let log = env.log_args();
    let p = p.to_string_lossy();
    let mut args = vec![
        "apply",
        "--netns",
        "hw-js-no-such-ns",
        "--state-dir",
        &state,
    ];
    args.extend(log.iter().map(String::as_str));
    args.extend(["--format", "json", &p]);
    let out = crate::apply::hostwall(&args, &[]);
    exit(&out, 2);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_valid("apply", &doc);
    assert!(
        doc["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("hw-js-no-such-ns")),
        "{doc:#}"
    );
    assert_eq!(doc["error"]["kind"], "system", "{doc:#}");
    // The schema is not vacuous: a document without `exit_code`, an error without its
    // kind, or a `null` where a field does not apply is refused.
    let mut missing = doc.clone();
    missing.as_object_mut().map(|o| o.remove("exit_code"));
    assert!(validate("apply", &missing).is_err());
    let mut wrong = doc.clone();
    wrong["error"] = serde_json::json!({"message": "x"});
    assert!(validate("apply", &wrong).is_err());
    let mut nulled = doc;
    nulled["path"] = Value::Null;
    assert!(validate("apply", &nulled).is_err());
}

#[test]
#[ignore = "needs root"]
fn apply_document_warns_of_another_table_that_defeats_the_policy_issue12() {
    crate::support::root::require();
    let env = Env::new("hw-js");
    env.nft(
        &["-f", "-"],
        "table ip other {\n chain in {\n  type filter hook input priority 10; policy accept;\n  tcp dport 22 drop\n }\n}\n",
    );
    let p = env.file("ssh.policy", SSH);
    let (code, doc) = run(&env, "apply", &[&p.to_string_lossy()]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["changed"], true);
    let defeated: Vec<&Value> = doc["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter(|w| w["kind"] == "policy-defeated")
                .collect()
        })
        .unwrap_or_default();
    assert!(!defeated.is_empty(), "{doc:#}");
    for d in defeated {
        assert_eq!(d["object"], "table ip other chain in", "{d:#}");
        assert!(
            d["packet"].as_str().is_some_and(|p| p.contains(":22")),
            "{d:#}"
        );
        assert_eq!(d["severity"], "warning");
    }
}

#[test]
#[ignore = "needs root"]
fn a_kernel_refusal_is_placed_at_its_policy_line_issue12() {
    crate::support::root::require();
    let env = Env::new("hw-js");
    let p = env.file("ssh.policy", SSH);
    let p = p.to_string_lossy();
    let state = env.state().to_string_lossy().into_owned();
    let log = env.log_args();
    let mut args = vec!["apply", "--netns", env.ns.name(), "--state-dir", &state];
    args.extend(log.iter().map(String::as_str));
    args.extend(["--format", "json", &p]);
    let before = genid(&env);
    // Debug builds: the kernel refuses the rule of `allow ssh` (line 3).
    let out = crate::apply::hostwall(&args, &[("HOSTWALL_TEST_BREAK_RULE", "ssh")]);
    let doc = crate::support::schema::document("apply", &out);
    assert_eq!(doc["exit_code"], 2, "{doc:#}");
    let e = &doc["diagnostics"][0];
    assert_eq!(
        (&e["file"], &e["line"], &e["column"]),
        (&Value::from(&*p), &Value::from(3), &Value::from(5)),
        "{doc:#}"
    );
    assert_eq!(e["severity"], "error", "{doc:#}");
    assert!(
        e["help"]
            .as_str()
            .is_some_and(|h| h.contains("nothing was changed"))
    );
    assert!(
        e["message"].as_str().is_some_and(|m| m.contains("refused")),
        "{doc:#}"
    );
    assert_eq!(doc["error"]["kind"], "system", "{doc:#}");
    assert_eq!(doc["error"]["message"], e["message"], "{doc:#}");
    assert_eq!(doc["changed"], false);
    assert_eq!(genid(&env), before, "a refused batch moved the generation");
}
