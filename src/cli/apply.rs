//! `hostwall apply`: the glue between the checked policy, the safe-apply sequence
//! (`safe`) and the kernel (`apply`), plus how its outcome is printed. What follows an
//! `apply --confirm` (prompt, `confirm`, `status`, `revert`, the watcher) is in
//! `lifecycle`.

use super::load::{BUILTIN_NAME, Loaded};
use super::output::Out;
use super::{EXIT_POLICY, EXIT_SYSTEM};
use hostwall::apply::restore;
use hostwall::apply::{ApplyError, ApplyOptions, ApplyReport};
use hostwall::ir::Ruleset;
use hostwall::nsid::NetnsId;
use hostwall::safe::{self, ConfirmOptions, FlowError, lockout, perms, persist};
use hostwall::syslog::SystemLog;
use owner::Owner;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod deferred;
mod dry_run;
mod ended;
mod json;
mod lastgood;
mod lifecycle;
mod owner;
mod path;
mod prompt;
mod refused;
mod report;
mod slot;
pub(crate) mod trace;
mod unchanged;
mod view;

pub use json::SCHEMA as JSON_SCHEMA;
pub use slot::PendingArgs;
#[cfg(debug_assertions)]
mod test_hooks;

/// How long a second apply/confirm/revert waits for the lock before saying who holds it:
/// an apply takes well under a second, so this covers a queue of a few.
const LOCK_WAIT: Duration = Duration::from_secs(10);

const APPLY_EXAMPLES: &str = "\
Examples:
  sudo hostwall apply /etc/hostwall/host.policy --site /etc/hostwall/site.toml
  sudo hostwall apply --dry-run host.policy          show the batch and sysctl changes only
  sudo hostwall apply --confirm 60 host.policy       revert in 60 s unless `hostwall confirm`
  sudo hostwall apply --persist host.policy          also write /etc/sysctl.d/90-hostwall.conf
  sudo hostwall apply --netns lab host.policy        change /run/netns/lab instead

Exit codes: 0 applied, 1 policy errors or lockout refused, 2 usage or system errors
(nothing was changed unless the message says so). At the --confirm prompt: y exits
like `confirm`, n like `revert`, no answer by the deadline 1; end of input or a hung-up
terminal 0 and a signal 128+N leave the change pending (it is not an answer).";

#[derive(clap::Args, Debug)]
#[command(after_help = APPLY_EXAMPLES)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub input: super::args::Input,
    /// Apply inside /run/netns/NAME instead of this host's namespace (the SSH lockout
    /// guard is skipped: it protects this host's own session).
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Print what would be sent (and which sysctls would change); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Revert after SECONDS unless `hostwall confirm` (or `y` at the prompt) keeps it.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub confirm: Option<u64>,
    /// Also write the forwarding setting to /etc/sysctl.d/90-hostwall.conf (with
    /// --confirm: once the change is confirmed).
    #[arg(long, conflicts_with = "netns")]
    pub persist: bool,
    /// Apply even if the policy would reject the SSH session it is applied from.
    #[arg(long)]
    pub force: bool,
    /// Send the table even when the live one already is the policy (by default such an
    /// apply sends nothing and says `unchanged (generation N)`).
    #[arg(long)]
    pub replace: bool,
    /// Skip the ownership/mode check of the policy and site files.
    #[arg(long)]
    pub insecure_perms: bool,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub system: super::args::SystemArgs,
    /// Where the forwarding sysctls live (tests point it at a scratch tree).
    #[arg(long, value_name = "DIR", hide = true)]
    pub sysctl_root: Option<PathBuf>,
    /// Where --persist writes its drop-in.
    #[arg(long, value_name = "FILE", hide = true, default_value = persist::DEFAULT_DROPIN)]
    pub persist_path: PathBuf,
    /// Keep what is applied as the last known good (what `hostwall boot` falls back to)
    /// in DIR. Default: /var/lib/hostwall, for an apply to PID 1's network namespace only.
    #[arg(long, value_name = "DIR")]
    pub lkg_dir: Option<PathBuf>,
    /// Output: lines for people on stderr; json also prints one document on stdout
    /// (docs/json.md; --confirm then never prompts).
    #[arg(long, value_enum, default_value_t = super::args::DiffFormat::Text)]
    pub format: super::args::DiffFormat,
    /// With --dry-run: also every element of a set change and each netlink message.
    #[arg(short, long)]
    pub verbose: bool,
}

pub use lifecycle::{confirm, revert, status, watch_revert};

/// The state directory shared by every safe-apply command, and where they log.
#[derive(clap::Args, Debug, Clone)]
pub struct StateArgs {
    /// Lock, pending change and apply records.
    #[arg(long, value_name = "DIR", hide = true, default_value = safe::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// The journal's native socket (tests bind their own).
    #[arg(long, value_name = "PATH", hide = true, default_value = hostwall::syslog::JOURNAL_SOCKET)]
    pub journal_socket: PathBuf,
    /// The syslog socket, used when the journal's is not there.
    #[arg(long, value_name = "PATH", hide = true, default_value = hostwall::syslog::SYSLOG_SOCKET)]
    pub syslog_socket: PathBuf,
}

impl StateArgs {
    pub(super) fn log(&self) -> SystemLog {
        SystemLog {
            journal: self.journal_socket.clone(),
            syslog: self.syslog_socket.clone(),
        }
    }

    fn owner(&self) -> Owner {
        Owner { log: self.log() }
    }

    /// The log sockets for the watcher's command line, when not the defaults.
    fn watcher_args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        let default = SystemLog::default();
        if self.journal_socket != default.journal {
            args.extend([
                "--journal-socket".into(),
                self.journal_socket.clone().into(),
            ]);
        }
        if self.syslog_socket != default.syslog {
            args.extend(["--syslog-socket".into(), self.syslog_socket.clone().into()]);
        }
        args
    }
}

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    pub state: StateArgs,
    /// The pending change to watch.
    #[arg(long)]
    pub id: String,
}

pub fn apply(out: &Out, a: &ApplyArgs) -> u8 {
    trace::start();
    let code = json::run(out, a.format, "apply", || {
        report::start(a);
        apply_once(out, a)
    });
    if let Some(t) = trace::report() {
        out.stderr(&t);
    }
    code
}

fn apply_once(out: &Out, a: &ApplyArgs) -> u8 {
    // Every step in the namespace runs on this thread, which enters it for the step
    // (a missing namespace is reported by the first step that needs it).
    let _stay = (a.netns.as_deref()).and_then(|n| hostwall::netns::stay_in(n).ok());
    #[cfg(debug_assertions)]
    test_hooks::lose_way_home(a.netns.as_deref());
    // Closed after the records are written, or before a confirm prompt that may wait
    // minutes, by a process of their own once a change is made: see `CloseLate`.
    let sockets = hostwall::nft::sock::CloseLate::begin();
    let (mut loaded, rs) = match prepare(out, a) {
        Ok(x) => x,
        Err(code) => return code,
    };
    // The diagnostics are not needed past here (the checked model went after compile);
    // the heap's free memory goes before the batch is built.
    loaded.diagnostics = Vec::new();
    crate::trim_heap();
    let opts = ApplyOptions {
        netns: a.netns.clone(),
        dry_run: a.dry_run,
        sysctl_root: a.sysctl_root.clone(),
        guard: None,
        full_replace: a.replace,
        table_record: Some(hostwall::apply::trusted::path(
            &a.state.state_dir,
            a.netns.as_deref(),
        )),
        in_place_only: false,
        caller_reverts: false,
    };
    if a.dry_run {
        return dry_run::dry_run(out, &loaded, &rs, &opts, a.verbose);
    }
    let confirm = a.confirm.map(|s| ConfirmOptions {
        watcher_args: a.state.watcher_args(),
        ..ConfirmOptions::new(loaded.name.clone(), Duration::from_secs(s))
    });
    let owner = a.state.owner();
    let slot = match slot::resolve(a.netns.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            json::error(out, &e);
            return EXIT_SYSTEM;
        }
    };
    // Taken before and after the apply: the record only names a namespace that was
    // the target throughout.
    let target = NetnsId::of(a.netns.as_deref()).ok();
    let place = safe::Place {
        state_dir: &a.state.state_dir,
        slot: &slot,
    };
    // The inputs' digests and checksums the apply record names are taken while the
    // batch is built and in the kernel, on another thread, when there is enough text to
    // be worth one (1.6 MB: 0.35 ms).
    let digest = loaded
        .digest_worth_a_thread()
        .then_some(|| loaded.map.files().for_each(|(_, f)| f.take_sums()));
    let (done, _) = hostwall::threads::beside("digest", digest, || {
        guarded(
            out,
            a,
            &owner,
            (&loaded, &rs),
            &opts,
            place,
            confirm.as_ref(),
        )
    });
    let done = match done {
        Ok(d) => d,
        Err(e) => return flow_error(out, &loaded, e),
    };
    trace::mark("apply (safe flow)");
    let r = &done.value;
    trace::add("plan and encode", r.build_time);
    trace::add("kernel (sendmsg)", r.send_time);
    let record = match r.record_drafted {
        true => "table record (drafted in send)",
        false => "table record written",
    };
    trace::add(record, r.record_time);
    announce(out, a, &rs, &done);
    let id = done.pending.as_ref().map(|(r, _)| r.id.as_str());
    owner.applied(&loaded.name, a.netns.as_deref(), done.value.genid, id);
    let warnings = after_warnings(out, a, &loaded, &rs);
    trace::mark("warnings about other tables");
    let rec = record_of(a, &loaded, &rs, done.value.genid, target);
    store(out, a, &hostwall::record::ApplyRecord { warnings, ..rec });
    trace::mark("apply record written");
    // Done with the kernel: the sockets' release, which waits out an RCU grace period
    // after the commit, is left to a process of its own.
    if done.pending.is_some() {
        sockets.end_in_child();
        return finish(out, a, (&owner, &slot), (&loaded, &rs), &done);
    }
    let code = finish(out, a, (&owner, &slot), (&loaded, &rs), &done);
    // The closer shares this process's memory (nothing is copied), and frees it once
    // this process has ended.
    sockets.end_in_child();
    trace::mark("closer started");
    code
}

/// After the change is made and recorded: keep it as the last known good (and write
/// `--persist`'s drop-in), or, under `--confirm`, say how to confirm it.
fn finish(
    out: &Out,
    a: &ApplyArgs,
    (owner, slot): (&Owner, &safe::Slot),
    (loaded, rs): (&Loaded, &Ruleset),
    done: &safe::AppliedChange<ApplyReport>,
) -> u8 {
    match &done.pending {
        None => {
            // What the batch and the records freed goes back before the texts are read
            // back for the last known good.
            crate::trim_heap();
            lastgood::store(out, a, loaded, rs, done.value.genid);
            trace::mark("last known good stored");
            if a.persist {
                return persist_now(out, rs, &loaded.name, &a.persist_path);
            }
            0
        }
        Some((record, _)) => lifecycle::pending_prompt(out, &a.state, owner, slot, record),
    }
}

/// Says what the apply did: a stale change ended first, the batch, the pending change.
fn announce(out: &Out, a: &ApplyArgs, rs: &Ruleset, done: &safe::AppliedChange<ApplyReport>) {
    if let Some(r) = &done.recovered {
        out.stderr(&lifecycle::recovered_note(r));
        report::recovered(r);
    }
    out.stderr(&path::summary(rs, a.netns.as_deref(), &done.value));
    report::applied(&done.value, done.pending.as_ref().map(|(r, _)| r));
}

/// Everything before the kernel is touched: warnings about other firewall services,
/// the unchanged answer from the record, check and compile, the preflight checks, the
/// unchanged answer by read-back. `Err` carries the exit code to stop with (0 when
/// nothing needs sending).
fn prepare(out: &Out, a: &ApplyArgs) -> Result<(Loaded, Ruleset), u8> {
    super::coexist::warn(out, &a.system.root);
    trace::mark("other firewall services");
    let skip = unchanged::Skip::new(a);
    trace::mark("pending change, apply record");
    let by_record = skip.as_ref().and_then(|s| s.by_record(out, a));
    trace::mark("unchanged by apply record");
    if let Some(code) = by_record {
        return Err(code);
    }
    // The table record the unchanged check and the plan read is decoded meanwhile.
    if skip.is_some() {
        unchanged::decode_record_ahead(a);
    }
    // A large input's texts, shed before compile, back the batch's first pages; not
    // under --confirm, which first copies the table for the revert (the texts' pages
    // would be held beside that copy).
    if a.confirm.is_none() {
        hostwall::pages::keep_retired();
    }
    let (loaded, rs) = report::load_compiled(out, &a.input)?;
    trace::mark("compile");
    report::policy(&loaded, &rs);
    #[cfg(debug_assertions)]
    let rs = test_hooks::break_rule(rs);
    #[cfg(debug_assertions)]
    test_hooks::append_after_check(&loaded.name);
    preflight(out, a, &loaded, &rs)?;
    trace::mark("permissions, lockout guard");
    let readback = skip
        .as_ref()
        .and_then(|s| s.by_readback(out, a, &loaded, &rs));
    trace::mark("unchanged by table record/read");
    match readback {
        Some(code) => Err(code),
        None => Ok((loaded, rs)),
    }
}

/// The kernel work of `apply` inside the safe-apply sequence.
fn guarded(
    out: &Out,
    a: &ApplyArgs,
    owner: &Owner,
    (loaded, rs): (&Loaded, &Ruleset),
    opts: &ApplyOptions,
    place: safe::Place<'_>,
    confirm: Option<&ConfirmOptions>,
) -> Result<safe::AppliedChange<ApplyReport>, FlowError<ApplyError>> {
    let state_dir = place.state_dir;
    // The guard of the capture; the apply checks our table against it (see
    // `restore::Captured::guard`), so a change to it in between fails the batch.
    let seen = std::cell::RefCell::new(None);
    safe::guarded_apply(
        place,
        LOCK_WAIT,
        owner,
        confirm,
        || {
            restore::capture(rs, opts).map(|c| {
                *seen.borrow_mut() = Some((c.guard, c.in_place));
                c.previous
            })
        },
        || {
            let (guard, in_place_only) = seen.borrow_mut().take().unzip();
            let opts = ApplyOptions {
                guard,
                in_place_only: in_place_only.unwrap_or(false),
                // Captured: the pending change's revert puts the previous state back.
                caller_reverts: in_place_only.is_some(),
                ..opts.clone()
            };
            // A captured copy of a big table is on disk now and freed: its pages go
            // back before the batch is built.
            if opts.caller_reverts {
                crate::trim_heap();
            }
            hostwall::apply::apply(rs, &opts)
        },
        // Under the lock, before the watcher starts: a quick `confirm` finds it.
        |record, report| {
            if a.persist {
                deferred::save(out, state_dir, record, rs, &loaded.name, &a.persist_path);
            }
            lastgood::stage(out, a, record, loaded, rs, report.genid);
        },
    )
}

/// The checks before anything touches the kernel: file permissions, then the lockout
/// guard. Both also run for `--dry-run`, so a dry run predicts a refusal.
fn preflight(out: &Out, a: &ApplyArgs, loaded: &Loaded, rs: &Ruleset) -> Result<(), u8> {
    if !a.insecure_perms {
        for file in policy_files(loaded) {
            if let Err(e) = perms::check_file(&file) {
                json::error(out, &e.to_string());
                return Err(EXIT_SYSTEM);
            }
        }
    }
    if a.force {
        return Ok(());
    }
    let probe = match lockout::probe_from_env() {
        Ok(Some(p)) => p,
        Ok(None) => {
            // Under sudo or on a terminal the admin expects the guard: say it found
            // nothing, so a session it missed is not mistaken for one it checked.
            if a.netns.is_none()
                && (std::env::var_os("SUDO_USER").is_some() || prompt::stdin_is_terminal())
            {
                out.stderr("hostwall: note: lockout check found no SSH session (no SSH_CONNECTION here or in a parent process)\n");
            }
            return Ok(());
        }
        Err(e) => {
            json::error(out, &e.to_string());
            return Err(EXIT_SYSTEM);
        }
    };
    if let Some(ns) = &a.netns {
        // The guard protects this host's own SSH session; a policy for another
        // namespace cannot lock it out, and that namespace's addresses are not ours.
        out.stderr(&format!(
            "hostwall: note: lockout check skipped: the change is for namespace {ns}, not this session's\n"
        ));
        return Ok(());
    }
    let judge = |p: &lockout::Probe| lockout::judge_with_eval(rs, Some(&loaded.map), p);
    lockout::check(&probe, &judge).map_err(|e| {
        json::error(out, &e.to_string());
        EXIT_POLICY
    })
}

/// Every file the policy was read from (policy, includes, site), except the built-in
/// policy and standard input, which have no permissions to judge.
pub(super) fn policy_files(loaded: &Loaded) -> Vec<PathBuf> {
    loaded
        .map
        .files()
        .map(|(_, f)| f.name.as_str())
        .filter(|n| *n != BUILTIN_NAME && *n != "<stdin>")
        .map(PathBuf::from)
        .collect()
}

pub(super) fn netns_text(netns: Option<&str>) -> String {
    netns.map(|n| format!(" in netns {n}")).unwrap_or_default()
}

fn flow_error(out: &Out, loaded: &Loaded, e: FlowError<ApplyError>) -> u8 {
    match e {
        FlowError::Step(e) => refused::apply_error(out, loaded, &e),
        FlowError::Safe(e) => {
            json::error(out, &e.to_string());
            EXIT_SYSTEM
        }
        e @ (FlowError::NoWatcher { .. } | FlowError::StepNotReverted { .. }) => {
            json::error(out, &e.to_string());
            EXIT_SYSTEM
        }
    }
}

/// What an apply records for the fast paths of `diff` and the next apply: the inputs'
/// digest, the generation, the namespace when it was the target throughout (`target`,
/// taken before the change, equals the identity now).
fn record_of(
    a: &ApplyArgs,
    loaded: &Loaded,
    rs: &Ruleset,
    genid: u32,
    target: Option<NetnsId>,
) -> hostwall::record::ApplyRecord {
    let (digest, includes) = super::load::inputs_digest(loaded, a.input.site.is_some());
    let after = NetnsId::of(a.netns.as_deref()).ok();
    let netns = target.filter(|t| after.as_ref() == Some(t));
    let stamps = super::load::input_paths(&a.input, &includes)
        .and_then(|paths| hostwall::record::InputStamps::take(&paths, super::files::read_at));
    let rec = hostwall::drift::record_for(rs, genid, digest, includes, netns, None);
    hostwall::record::ApplyRecord {
        policy: Some(super::load::canonical(&loaded.name)),
        stamps,
        checksum: Some(super::load::inputs_checksum(loaded, a.input.site.is_some())),
        ..rec
    }
}

/// Stores the record. Losing it only costs the fast paths, so a failure is a warning.
fn store(out: &Out, a: &ApplyArgs, rec: &hostwall::record::ApplyRecord) {
    let path = hostwall::record::path(&a.state.state_dir, a.netns.as_deref());
    if let Err(e) = hostwall::record::store(&path, rec) {
        let msg = format!(
            "cannot record the applied ruleset in {} ({e}); `hostwall diff` will dump instead",
            path.display()
        );
        out.stderr(&format!("hostwall: warning: {msg}\n"));
        json::warning("record", &msg);
    }
}

/// After the change: what the other tables do to the policy's traffic (print only; the
/// change is made). Also what `diff`'s fast path will show.
fn after_warnings(
    out: &Out,
    a: &ApplyArgs,
    loaded: &Loaded,
    rs: &Ruleset,
) -> Option<hostwall::record::Warnings> {
    let locate = |s: &hostwall::source::Span| loaded.map.location(*s);
    // Our table alone in the namespace: no other table to warn about, none to read.
    if let Ok(Some(genid)) = hostwall::apply::alone(&rs.table.name, a.netns.as_deref()) {
        json::warning_changes(&[]);
        return Some(hostwall::record::Warnings {
            genid,
            changes: Vec::new(),
        });
    }
    match hostwall::drift::warnings(rs, a.netns.as_deref(), &locate) {
        Ok(w) => {
            let shown = shown_warnings(&w.changes);
            if !shown.is_empty() {
                out.stderr(&hostwall::diff::render_text(&shown));
            }
            json::warning_changes(&shown);
            Some(w)
        }
        Err(e) => {
            let msg = format!(
                "cannot read the other tables after the change ({e}); `hostwall diff --full` shows them"
            );
            out.stderr(&format!("hostwall: warning: {msg}\n"));
            json::warning("foreign-tables", &msg);
            None
        }
    }
}

/// The warnings worth printing after an apply: every one but other tables' base chains
/// that surely cannot drop.
fn shown_warnings(changes: &[hostwall::diff::Change]) -> Vec<hostwall::diff::Change> {
    changes
        .iter()
        .filter(|c| {
            c.kind != hostwall::diff::Kind::ForeignBaseChain
                || c.can_drop != Some(hostwall::diff::CanDrop::No)
        })
        .cloned()
        .collect()
}

fn persist_now(out: &Out, rs: &Ruleset, policy: &str, path: &Path) -> u8 {
    match persist::persist(rs, policy, path) {
        Ok(done) => {
            out.stderr(&persist_note(done, path));
            report::persisted(done, path);
            0
        }
        Err(e) => {
            json::error(
                out,
                &format!("the ruleset is applied, but the sysctl drop-in is not: {e}"),
            );
            EXIT_SYSTEM
        }
    }
}

fn persist_note(done: persist::Persisted, path: &Path) -> String {
    let what = match done {
        persist::Persisted::Written => "wrote",
        persist::Persisted::Unchanged => "kept (unchanged)",
        persist::Persisted::Removed => "removed (the policy sets no forwarding)",
        persist::Persisted::Absent => "nothing to write (the policy sets no forwarding):",
    };
    format!("hostwall: persist: {what} {}\n", path.display())
}

/// `hostwall boot`'s apply to the host's namespace, under the lock like `apply` (a
/// stale pending change is reverted first; a live one refuses).
pub(super) fn boot_apply(
    state: &StateArgs,
    ready: &hostwall::boot::Ready,
) -> Result<ApplyReport, hostwall::boot::Refusal> {
    #[cfg(debug_assertions)]
    let broken;
    #[cfg(debug_assertions)]
    let rs = if ready.source == hostwall::boot::Source::Policy {
        broken = test_hooks::break_rule(ready.ruleset.clone());
        &broken
    } else {
        &ready.ruleset
    };
    #[cfg(not(debug_assertions))]
    let rs = &ready.ruleset;
    let refusal =
        |error: String, location: Option<String>| hostwall::boot::Refusal { error, location };
    let slot = slot::resolve(None).map_err(|e| refusal(e, None))?;
    let place = safe::Place {
        state_dir: &state.state_dir,
        slot: &slot,
    };
    let opts = ApplyOptions::default();
    let owner = state.owner();
    let capture = || Ok::<_, ApplyError>(Vec::new());
    let apply = || hostwall::apply::apply(rs, &opts);
    match safe::guarded_apply(place, LOCK_WAIT, &owner, None, capture, apply, |_, _| {}) {
        Ok(done) => Ok(done.value),
        Err(FlowError::Step(e)) => {
            let at = e
                .origin()
                .first()
                .filter(|s| (s.file.0 as usize) < ready.map.files().count())
                .map(|s| ready.map.location(*s));
            Err(refusal(e.to_string(), at))
        }
        Err(e) => Err(refusal(e.to_string(), None)),
    }
}
