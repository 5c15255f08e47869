//! Issue #12 item 2: the `hostwall.firewall` collection (contrib/ansible) run by the real
//! `ansible-playbook` against localhost (`connection: local`), its modules aimed at a
//! namespace the test created, with a private state directory and log sockets. Each
//! playbook saves its registered results as JSON; the test reads them and asserts what
//! the kernel holds (generation ids, the ruleset, the pending change).

use crate::apply::Env;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SSH: &str = "policy p {\n    default drop\n    allow ssh\n}\n";
const SSH_HTTP: &str = "policy p {\n    default drop\n    allow ssh\n    allow http\n}\n";
const BROKEN: &str = "policy p {\n    default drop\n    allow sshh\n}\n";

/// A namespace, the collection where ansible finds it, and the module defaults that aim
/// every task at the namespace.
struct Lab {
    env: Env,
    collections: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let env = Env::new("hw-ans");
        let collections = env.dir.path().join("collections");
        let ns_dir = collections.join("ansible_collections/hostwall");
        std::fs::create_dir_all(&ns_dir).unwrap_or_else(|e| panic!("{e}"));
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/ansible");
        std::os::unix::fs::symlink(src, ns_dir.join("firewall")).unwrap_or_else(|e| panic!("{e}"));
        Lab { env, collections }
    }

    fn path(&self, name: &str) -> String {
        self.env
            .dir
            .path()
            .join(name)
            .to_string_lossy()
            .into_owned()
    }

    /// The play's head: localhost, local connection, module defaults aiming at the lab.
    fn play(&self, tasks: &str) -> String {
        let defaults = format!(
            "{{netns: {}, hostwall_bin: {}, state_dir: {}, log_dir: {}}}",
            self.env.ns.name(),
            env!("CARGO_BIN_EXE_hostwall"),
            self.env.state().display(),
            self.env.dir.path().display(),
        );
        format!(
            "- hosts: localhost\n  connection: local\n  gather_facts: false\n  module_defaults:\n    hostwall.firewall.hostwall_policy: {defaults}\n    hostwall.firewall.hostwall_info: {defaults}\n  tasks:\n{tasks}"
        )
    }

    /// Runs the playbook; returns what its last task saved (`results.json`) and the
    /// run's output.
    fn run(&self, name: &str, tasks: &str) -> (Value, String) {
        let book = self.env.file(name, &self.play(tasks));
        let t = Instant::now();
        let out = Command::new("ansible-playbook")
            .args(["-i", "localhost,"])
            .arg(&book)
            .env("ANSIBLE_COLLECTIONS_PATH", &self.collections)
            .env("ANSIBLE_LOCAL_TEMP", self.path("ansible-tmp"))
            .env("ANSIBLE_REMOTE_TEMP", self.path("ansible-tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
            .env_remove("SSH_CONNECTION")
            .output()
            .unwrap_or_else(|e| panic!("ansible-playbook (apt install ansible-core): {e}"));
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{name}: ansible-playbook took {:?}", t.elapsed());
        assert!(out.status.success(), "{name} failed:\n{log}");
        let saved = std::fs::read_to_string(self.path("results.json"))
            .unwrap_or_else(|e| panic!("{name}: no results.json ({e}):\n{log}"));
        let v = serde_json::from_str(&saved).unwrap_or_else(|e| panic!("{e}: {saved}"));
        (v, log)
    }

    /// The task that saves the registered results named in `vars`.
    fn save(&self, vars: &[&str]) -> String {
        let dict: Vec<String> = vars.iter().map(|v| format!("'{v}': {v}")).collect();
        format!(
            "    - ansible.builtin.copy:\n        content: \"{{{{ {{{}}} | to_nice_json }}}}\"\n        dest: {}\n",
            dict.join(", "),
            self.path("results.json")
        )
    }

    fn genid(&self) -> u64 {
        u64::from(hostwall::live::genid(Some(self.env.ns.name())).unwrap_or_else(|e| panic!("{e}")))
    }

    /// `hostwall status --format json` in the namespace.
    fn status(&self) -> Value {
        let out = self.env.state_cmd_json("status");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("status: {e}"))
    }
}

impl Env {
    /// `hostwall CMD --format json` with the namespace, state dir and log sockets.
    fn state_cmd_json(&self, cmd: &str) -> std::process::Output {
        let state = self.state().to_string_lossy().into_owned();
        let log = self.log_args();
        let mut a = vec![
            cmd,
            "--netns",
            self.ns.name(),
            "--state-dir",
            &state,
            "--format",
            "json",
        ];
        a.extend(log.iter().map(String::as_str));
        crate::apply::hostwall(&a, &[])
    }
}

fn msg(v: &Value) -> &str {
    v["msg"].as_str().unwrap_or_default()
}

#[test]
#[ignore = "needs root"]
fn playbook_applies_once_previews_and_refuses_bad_input_without_touching_the_kernel_issue12() {
    crate::support::root::require();
    let lab = Lab::new();
    let ssh = lab.env.file("ssh.policy", SSH);
    let more = lab.env.file("more.policy", SSH_HTTP);
    let broken = lab.env.file("broken.policy", BROKEN);
    let missing = lab.path("missing.policy");
    let (ssh, more, broken) = (ssh.display(), more.display(), broken.display());
    let before = lab.genid();
    let tasks = format!(
        "    - {{name: first, hostwall.firewall.hostwall_policy: {{src: {ssh}}}, register: first}}
    - {{name: second, hostwall.firewall.hostwall_policy: {{src: {ssh}}}, register: second}}
    - name: preview
      hostwall.firewall.hostwall_policy: {{src: {more}}}
      check_mode: true
      diff: true
      register: preview
    - name: broken content
      hostwall.firewall.hostwall_policy: {{content: \"{{{{ lookup('file', '{broken}') }}}}\"}}
      register: broken_content
      ignore_errors: true
    - {{name: broken src, hostwall.firewall.hostwall_policy: {{src: {broken}}}, register: broken_src, ignore_errors: true}}
    - {{name: both, hostwall.firewall.hostwall_policy: {{src: {ssh}, content: x}}, register: both, ignore_errors: true}}
    - {{name: missing, hostwall.firewall.hostwall_policy: {{src: {missing}}}, register: missing, ignore_errors: true}}
    - {{name: info, hostwall.firewall.hostwall_info: {{src: {ssh}}}, register: info}}
    - {{name: checked, hostwall.firewall.hostwall_policy: {{src: {ssh}, state: checked}}, register: checked}}
    - name: checked content
      hostwall.firewall.hostwall_policy: {{content: \"{{{{ lookup('file', '{broken}') }}}}\", state: checked}}
      register: checked_content
      ignore_errors: true
{}",
        lab.save(&["first", "second", "preview", "broken_content", "broken_src", "both", "missing", "info", "checked", "checked_content"])
    );
    let (r, log) = lab.run("once.yml", &tasks);
    // First run changed, the kernel moved once; every later task left it there.
    assert_eq!(r["first"]["changed"], true, "{log}");
    let applied = r["first"]["hostwall"]["generation"]["after"]
        .as_u64()
        .unwrap_or(0);
    assert!(applied > before, "{:#}", r["first"]);
    assert_eq!(
        lab.genid(),
        applied,
        "a later task changed the ruleset:\n{log}"
    );
    let live = lab.env.ruleset();
    assert!(
        live.contains("comment \"ssh\"") && !live.contains("http"),
        "{live}"
    );
    // Second run: ok, nothing sent.
    assert_eq!(r["second"]["changed"], false, "{:#}", r["second"]);
    assert_eq!(r["second"]["hostwall"]["path"], "unchanged");
    // Check mode with diff: would change, names the added service, in the policy's terms.
    assert_eq!(r["preview"]["changed"], true, "{:#}", r["preview"]);
    let diff = &r["preview"]["diff"];
    assert!(
        diff["after"]
            .as_str()
            .is_some_and(|a| a.contains("input: accept ssh, http")),
        "{diff:#}"
    );
    assert!(
        diff["before"]
            .as_str()
            .is_some_and(|b| b.contains("input: accept ssh\n") && !b.contains("http")),
        "{diff:#}"
    );
    // Bad input: failed, with a message to act on.
    assert_eq!(r["broken_content"]["failed"], true);
    assert!(
        msg(&r["broken_content"]).contains("content:3:11: unknown service `sshh`"),
        "{}",
        msg(&r["broken_content"])
    );
    assert!(
        msg(&r["broken_src"]).contains(&format!("{broken}:3:11: unknown service `sshh`")),
        "{}",
        msg(&r["broken_src"])
    );
    assert_eq!(r["both"]["failed"], true);
    assert!(
        msg(&r["both"]).contains("mutually exclusive: src|content"),
        "{}",
        msg(&r["both"])
    );
    assert_eq!(r["missing"]["failed"], true);
    assert!(
        msg(&r["missing"]).contains(&missing) && msg(&r["missing"]).contains("No such file"),
        "{}",
        msg(&r["missing"])
    );
    // state: checked reads `check --format json`: its document, every error placed.
    assert_eq!(r["checked"]["changed"], false, "{:#}", r["checked"]);
    assert_eq!(
        r["checked"]["hostwall"]["command"], "check",
        "{:#}",
        r["checked"]
    );
    assert_eq!(r["checked"]["hostwall"]["ok"], true);
    assert_eq!(r["checked_content"]["failed"], true);
    let m = msg(&r["checked_content"]);
    assert!(
        m.contains("content:3:11: unknown service `sshh` [E0101] (help: did you mean"),
        "{m}"
    );
    assert_eq!(r["checked_content"]["error"]["kind"], "policy", "{m}");
    // Facts: in sync, nothing pending, this hostwall's version.
    let facts = &r["info"]["ansible_facts"]["hostwall"];
    assert_eq!(facts["version"], env!("CARGO_PKG_VERSION"), "{facts:#}");
    assert_eq!(facts["drift"]["in_sync"], true, "{facts:#}");
    assert_eq!(facts["status"]["pending"], false, "{facts:#}");
}

#[test]
#[ignore = "needs root"]
fn confirm_over_a_new_connection_keeps_the_change_and_a_missing_confirm_reverts_issue12() {
    crate::support::root::require();
    let lab = Lab::new();
    let ssh = lab.env.file("ssh.policy", SSH);
    let more = lab.env.file("more.policy", SSH_HTTP);
    // Kept: apply, reconnect, confirm.
    let tasks = format!(
        "    - {{hostwall.firewall.hostwall_policy: {{src: {}, confirm_timeout: 60}}, register: applied}}
    - ansible.builtin.meta: reset_connection
    - {{hostwall.firewall.hostwall_policy: {{state: confirmed}}, register: confirmed}}
{}",
        ssh.display(),
        lab.save(&["applied", "confirmed"])
    );
    let (r, log) = lab.run("kept.yml", &tasks);
    assert_eq!(r["applied"]["changed"], true, "{log}");
    let id = &r["applied"]["pending"]["id"];
    assert!(id.is_string(), "{:#}", r["applied"]);
    assert_eq!(r["confirmed"]["changed"], true, "{:#}", r["confirmed"]);
    assert_eq!(&r["confirmed"]["hostwall"]["change"]["id"], id);
    let status = lab.status();
    assert_eq!(status["pending"], false, "{status:#}");
    assert_eq!(status["last"]["end"], "confirmed", "{status:#}");
    let kept = lab.env.ruleset();
    assert!(kept.contains("comment \"ssh\""), "{kept}");

    // Not confirmed: the host puts the kept table back by itself.
    let tasks = format!(
        "    - {{hostwall.firewall.hostwall_policy: {{src: {}, confirm_timeout: 2}}, register: unconfirmed}}\n{}",
        more.display(),
        lab.save(&["unconfirmed"])
    );
    let (r, log) = lab.run("unconfirmed.yml", &tasks);
    assert_eq!(r["unconfirmed"]["changed"], true, "{log}");
    let end = Instant::now() + Duration::from_secs(15);
    while lab.status()["pending"] == true && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = lab.status();
    assert_eq!(status["last"]["end"], "reverted", "{status:#}");
    assert_eq!(status["last"]["reason"], "deadline-passed", "{status:#}");
    assert_eq!(
        lab.env.ruleset(),
        kept,
        "the unconfirmed change was not reverted"
    );
}

#[test]
#[ignore = "needs root"]
fn ansible_doc_renders_both_modules_issue12() {
    crate::support::root::require();
    let lab = Lab::new();
    for (module, options) in [
        (
            "hostwall_policy",
            &[
                "src",
                "content",
                "confirm_timeout",
                "persist",
                "netns",
                "hostwall_bin",
            ][..],
        ),
        ("hostwall_info", &["gather", "src", "netns"][..]),
    ] {
        let out = Command::new("ansible-doc")
            .args(["-t", "module", &format!("hostwall.firewall.{module}")])
            .env("ANSIBLE_COLLECTIONS_PATH", &lab.collections)
            .env("ANSIBLE_LOCAL_TEMP", lab.path("ansible-tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .output()
            .unwrap_or_else(|e| panic!("ansible-doc (apt install ansible-core): {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{module}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for o in options {
            assert!(
                text.contains(&format!("= {o}")) || text.contains(&format!("- {o}")),
                "{module}: no option {o}:\n{text}"
            );
        }
        assert!(
            text.contains("EXAMPLES") && text.contains("RETURN"),
            "{module}:\n{text}"
        );
    }
}
