//! docs/exit-codes.md is true: it names every subcommand of `hostwall --help`, and each
//! (command, code) row is reached by running the command (the kernel's in namespaces
//! this test creates, as root). A row without a way here, or a way without a row, fails.

use crate::support::cli::{hostwall, hostwall_inside, text};
use hostwall::netns::Netns;
use std::path::PathBuf;
use std::process::Output;

/// The documented (command, exit code) rows.
fn table() -> Vec<(String, i32)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/exit-codes.md"))
        .expect("docs/exit-codes.md");
    doc.lines()
        .filter_map(|l| {
            let mut cells = l.strip_prefix("| `")?.split('|');
            let cmd = cells.next()?.trim().trim_end_matches('`');
            let code = cells.next()?.trim().parse().ok()?;
            Some((cmd.to_string(), code))
        })
        .collect()
}

/// A scratch directory with policies, and namespaces made on demand.
struct Ctx {
    dir: tempfile::TempDir,
}

impl Ctx {
    fn new() -> Ctx {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, body) in [
            ("good.policy", "policy x {\n    allow ssh\n}\n"),
            ("bad.policy", "policy x {\n    allow sshh\n}\n"),
            ("ugly.policy", "policy x {\nallow ssh\n}\n"),
            (
                "fwd.policy",
                "policy x {\n    forwarding on\n    allow ssh\n}\n",
            ),
        ] {
            std::fs::write(dir.path().join(name), body).expect("write");
        }
        std::fs::create_dir(dir.path().join("etc")).expect("mkdir");
        Ctx { dir }
    }

    fn p(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `hostwall ARGS --config-dir <scratch>/etc`.
    fn run(&self, args: &[&str]) -> Output {
        let etc = self.p("etc");
        let mut a = args.to_vec();
        a.extend(["--config-dir", &etc]);
        hostwall(&a)
    }
}

/// A namespace of its own with a state directory and log sockets in the scratch dir.
struct Ns {
    ns: Netns,
    state: PathBuf,
}

impl Ns {
    fn new(c: &Ctx) -> Ns {
        let ns = Netns::create_unique("hw-exit").expect("netns");
        let state = c.dir.path().join(format!("state-{}", ns.name()));
        Ns { ns, state }
    }

    /// `hostwall CMD --netns NS --state-dir S ARGS`, with the log sockets in the scratch
    /// dir for the commands that log (all but `diff` and `metrics`).
    fn cmd(&self, c: &Ctx, cmd: &str, args: &[&str]) -> Output {
        let (state, j, s) = self.paths(c);
        let mut a = vec![cmd, "--netns", self.ns.name(), "--state-dir", &state];
        if !matches!(cmd, "diff" | "metrics") {
            a.extend(["--journal-socket", &j, "--syslog-socket", &s]);
        }
        a.extend(args);
        c.run(&a)
    }

    fn paths(&self, c: &Ctx) -> (String, String, String) {
        let state = self.state.display().to_string();
        (state, c.p("journal.sock"), c.p("syslog.sock"))
    }

    /// `hostwall boot` run inside the namespace, its last known good in the scratch dir.
    fn boot(&self, c: &Ctx, policy: &str) -> Output {
        let (state, j, s) = self.paths(c);
        let lkg = c.p("lkg");
        let args = [
            "boot",
            "--insecure-perms",
            "--state-dir",
            &state,
            "--lkg-dir",
            &lkg,
            "--journal-socket",
            &j,
            "--syslog-socket",
            &s,
            policy,
        ];
        hostwall_inside(self.ns.name(), &args, None)
    }

    /// Sets a sysctl inside the namespace (`KEY=VALUE`), behind the policy's back.
    fn sysctl(&self, setting: &str) {
        let o = std::process::Command::new("ip")
            .args(["netns", "exec", self.ns.name(), "sysctl", "-qw", setting])
            .output()
            .expect("ip netns exec sysctl");
        assert!(o.status.success(), "sysctl {setting}: {}", text(&o.stderr));
    }

    fn apply(&self, c: &Ctx, args: &[&str]) -> Output {
        let mut a = vec!["--insecure-perms"];
        a.extend(args);
        self.cmd(c, "apply", &a)
    }
}

/// One way to reach a documented code.
struct Way {
    command: &'static str,
    code: i32,
    root: bool,
    run: fn(&Ctx) -> Output,
}

#[rustfmt::skip]
const WAYS: &[Way] = &[
    Way { command: "init", code: 0, root: false, run: |c| c.run(&["init", "--system-root", &c.p("etc")]) },
    Way { command: "init", code: 2, root: false, run: |c| {
        c.run(&["init", "--system-root", &c.p("etc")]);
        c.run(&["init", "--system-root", &c.p("etc")])
    } },
    Way { command: "compile", code: 0, root: false, run: |c| c.run(&["compile", &c.p("good.policy")]) },
    Way { command: "compile", code: 1, root: false, run: |c| c.run(&["compile", &c.p("bad.policy")]) },
    Way { command: "compile", code: 2, root: false, run: |c| c.run(&["compile", &c.p("none.policy")]) },
    Way { command: "check", code: 0, root: false, run: |c| c.run(&["check", &c.p("good.policy")]) },
    Way { command: "check", code: 1, root: false, run: |c| c.run(&["check", &c.p("bad.policy")]) },
    Way { command: "check", code: 2, root: false, run: |c| c.run(&["check", &c.p("none.policy")]) },
    Way { command: "fmt", code: 0, root: false, run: |c| c.run(&["fmt", "--check", &c.p("good.policy")]) },
    Way { command: "fmt", code: 1, root: false, run: |c| c.run(&["fmt", "--check", &c.p("ugly.policy")]) },
    Way { command: "fmt", code: 2, root: false, run: |c| c.run(&["fmt", "--write", "-"]) },
    Way { command: "verify", code: 0, root: true, run: |c| c.run(&["verify", &c.p("good.policy")]) },
    Way { command: "verify", code: 1, root: false, run: |c| c.run(&["verify", &c.p("bad.policy")]) },
    Way { command: "verify", code: 2, root: false, run: |c| c.run(&["verify", &c.p("none.policy")]) },
    Way { command: "diff", code: 0, root: true, run: |c| {
        let n = Ns::new(c);
        n.apply(c, &[&c.p("good.policy")]);
        n.cmd(c, "diff", &[&c.p("good.policy")])
    } },
    Way { command: "diff", code: 1, root: true, run: |c| Ns::new(c).cmd(c, "diff", &[&c.p("good.policy")]) },
    Way { command: "diff", code: 2, root: false, run: |c| c.run(&["diff", "--state-dir", &c.p("st"), &c.p("bad.policy")]) },
    Way { command: "diff --check", code: 0, root: true, run: |c| {
        let n = Ns::new(c);
        n.apply(c, &[&c.p("good.policy")]);
        n.cmd(c, "diff", &["--check", &c.p("good.policy")])
    } },
    Way { command: "diff --check", code: 1, root: true, run: |c| {
        let n = Ns::new(c);
        n.apply(c, &[&c.p("fwd.policy")]);
        n.sysctl("net.ipv4.ip_forward=0");
        n.cmd(c, "diff", &["--check", &c.p("fwd.policy")])
    } },
    Way { command: "diff --check", code: 2, root: true, run: |c| Ns::new(c).cmd(c, "diff", &["--check", &c.p("good.policy")]) },
    Way { command: "diff --check", code: 3, root: false, run: |c| c.run(&["diff", "--check", "--state-dir", &c.p("st"), &c.p("bad.policy")]) },
    Way { command: "metrics", code: 0, root: true, run: |c| {
        let n = Ns::new(c);
        n.apply(c, &[&c.p("good.policy")]);
        n.cmd(c, "metrics", &[&c.p("good.policy")])
    } },
    Way { command: "metrics", code: 2, root: false, run: |c| c.run(&["metrics", "--netns", "hw-exit-no-such-ns", "--state-dir", &c.p("st"), &c.p("good.policy")]) },
    Way { command: "services", code: 0, root: false, run: |c| c.run(&["services", "ssh"]) },
    Way { command: "services", code: 1, root: false, run: |c| c.run(&["services", "libvirtd"]) },
    Way { command: "services", code: 2, root: false, run: |c| c.run(&["services", "--format", "xml"]) },
    Way { command: "import", code: 0, root: false, run: |c| {
        firewalld_dir(c, "<port port=\"22\" protocol=\"tcp\"/>");
        c.run(&["import", "firewalld", &c.p("fw")])
    } },
    Way { command: "import", code: 1, root: false, run: |c| {
        firewalld_dir(c, "<port port=\"22\" protocol=\"tcp\"/><masquerade/>");
        c.run(&["import", "firewalld", &c.p("fw")])
    } },
    Way { command: "import", code: 2, root: false, run: |c| c.run(&["import", "firewalld", &c.p("no-such-dir")]) },
    Way { command: "explain", code: 0, root: false, run: |c| c.run(&["explain", "tcp 10.0.0.1 -> 10.0.0.2:22 on eth0", &c.p("good.policy")]) },
    Way { command: "explain", code: 1, root: false, run: |c| c.run(&["explain", "tcp 10.0.0.1 => 10.0.0.2:22", &c.p("good.policy")]) },
    Way { command: "explain", code: 2, root: false, run: |c| c.run(&["explain", "tcp 10.0.0.1 -> 10.0.0.2:22 on eth0", "--netns", "x", &c.p("good.policy")]) },
    Way { command: "apply", code: 0, root: true, run: |c| Ns::new(c).apply(c, &[&c.p("good.policy")]) },
    Way { command: "apply", code: 1, root: true, run: |c| Ns::new(c).apply(c, &[&c.p("bad.policy")]) },
    Way { command: "apply", code: 2, root: true, run: |c| Ns::new(c).apply(c, &[&c.p("none.policy")]) },
    Way { command: "confirm", code: 0, root: true, run: |c| {
        let n = Ns::new(c);
        n.apply(c, &["--confirm", "60", &c.p("good.policy")]);
        n.cmd(c, "confirm", &[])
    } },
    Way { command: "confirm", code: 1, root: true, run: |c| {
        let n = Ns::new(c);
        n.apply(c, &["--confirm", "60", &c.p("good.policy")]);
        n.cmd(c, "revert", &[]);
        n.cmd(c, "confirm", &[])
    } },
    Way { command: "confirm", code: 2, root: false, run: |c| c.run(&["confirm", "--netns", "hw-exit-no-such-ns", "--state-dir", &c.p("st")]) },
    Way { command: "status", code: 0, root: true, run: |c| Ns::new(c).cmd(c, "status", &[]) },
    Way { command: "status", code: 2, root: false, run: |c| c.run(&["status", "--netns", "hw-exit-no-such-ns", "--state-dir", &c.p("st")]) },
    Way { command: "revert", code: 0, root: true, run: |c| {
        let n = Ns::new(c);
        n.apply(c, &["--confirm", "60", &c.p("good.policy")]);
        n.cmd(c, "revert", &[])
    } },
    Way { command: "revert", code: 1, root: true, run: |c| {
        let n = Ns::new(c);
        n.apply(c, &["--confirm", "60", &c.p("good.policy")]);
        n.cmd(c, "confirm", &[]);
        n.cmd(c, "revert", &[])
    } },
    Way { command: "revert", code: 2, root: false, run: |c| c.run(&["revert", "--netns", "hw-exit-no-such-ns", "--state-dir", &c.p("st")]) },
    Way { command: "boot", code: 0, root: true, run: |c| Ns::new(c).boot(c, &c.p("good.policy")) },
    Way { command: "boot", code: 1, root: true, run: |c| Ns::new(c).boot(c, &c.p("bad.policy")) },
    Way { command: "boot", code: 2, root: true, run: |c| {
        let n = Ns::new(c);
        n.apply(c, &["--confirm", "60", &c.p("good.policy")]);
        let o = n.boot(c, &c.p("good.policy"));
        n.cmd(c, "revert", &[]);
        o
    } },
];

#[test]
fn the_table_names_every_subcommand_and_every_row_has_a_way() {
    let help = text(&hostwall(&["--help"]).stdout);
    let commands: Vec<&str> = help
        .split_once("Commands:\n")
        .map(|(_, rest)| rest.split("\n\n").next().unwrap_or(""))
        .unwrap_or("")
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 12, "{help}");
    let rows = table();
    for c in &commands {
        assert!(
            rows.iter().any(|(r, _)| r == c),
            "docs/exit-codes.md has no row for `{c}`"
        );
    }
    for (cmd, code) in &rows {
        // A row may name a mode of a command (`diff --check`): its first word is one.
        let name = cmd.split_whitespace().next().unwrap_or("");
        assert!(
            commands.contains(&name),
            "docs/exit-codes.md names `{cmd}`, not a command"
        );
        assert!(
            WAYS.iter().any(|w| w.command == cmd && w.code == *code),
            "`{cmd}` exit {code}: no way to reach it in WAYS"
        );
    }
    for w in WAYS {
        assert!(
            rows.iter().any(|(c, n)| c == w.command && *n == w.code),
            "WAYS reaches `{}` exit {}, which docs/exit-codes.md does not list",
            w.command,
            w.code
        );
    }
}

/// Runs the ways `root` selects; every mismatch at once.
fn drive(root: bool) {
    let c = Ctx::new();
    let mut wrong = Vec::new();
    for w in WAYS.iter().filter(|w| w.root == root) {
        let o = (w.run)(&c);
        if o.status.code() != Some(w.code) {
            wrong.push(format!(
                "{} exited {:?}, want {}:\n{}",
                w.command,
                o.status.code(),
                w.code,
                text(&o.stderr)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_unprivileged_row_is_reached() {
    drive(false);
}

#[test]
#[ignore = "needs root"]
fn every_kernel_row_is_reached_in_namespaces() {
    crate::support::root::require();
    drive(true);
}

/// A firewalld configuration directory `<scratch>/fw` whose default zone holds `zone`.
fn firewalld_dir(c: &Ctx, zone: &str) {
    let dir = c.dir.path().join("fw");
    std::fs::create_dir_all(dir.join("zones")).expect("mkdir");
    std::fs::write(dir.join("firewalld.conf"), "DefaultZone=public\n").expect("write");
    let xml = format!("<?xml version=\"1.0\"?>\n<zone>\n{zone}\n</zone>\n");
    std::fs::write(dir.join("zones/public.xml"), xml).expect("write");
}
