//! `hostwall metrics`: gathers drift, the apply record, the pending change, the
//! counted rules and how full the per-source limit sets are, of one namespace, and writes them in node_exporter's textfile format,
//! to standard output or atomically to a file (`-o`). A part that cannot be read is
//! reported in the file (`hostwall_up 0`) and on stderr, and the exit code is 2.

use super::args::Input;
use super::load::Loaded;
use super::output::Out;
use super::{EXIT_SYSTEM, load_compiled};
use hostwall::drift::{self, DriftOptions};
use hostwall::ir::Ruleset;
use hostwall::live::counters::Counted;
use hostwall::metrics::cache;
use hostwall::metrics::labels::{self, Labeller};
use hostwall::metrics::source;
use hostwall::metrics::{Applied, Part, ScrapeError, Snapshot};
use hostwall::record::ApplyRecord;
use hostwall::source::Span;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct MetricsArgs {
    #[command(flatten)]
    pub input: Input,
    /// Read inside /run/netns/NAME instead of the current network namespace.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Write to FILE atomically (a temporary file renamed over it), mode 0644, for
    /// node_exporter's textfile collector; default: standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Always dump and compare, even when the recorded generation id says nothing changed.
    #[arg(long)]
    pub full: bool,
    /// Where `apply` records what it committed and pending changes wait.
    #[arg(long, value_name = "DIR", default_value = hostwall::safe::DEFAULT_STATE_DIR, hide = true)]
    pub state_dir: PathBuf,
}

/// The run's inputs and what it has found so far; the policy is compiled at most once,
/// and only when something needs it (the fast path and a table without counters do not).
struct Run<'a> {
    out: &'a Out,
    input: Option<Input>,
    opts: DriftOptions,
    record: Option<ApplyRecord>,
    compiled: Option<Option<(Loaded, Ruleset)>>,
    snap: Snapshot,
}

pub fn run(out: &Out, c: &MetricsArgs, config_dir: &Path) -> u8 {
    let mut r = Run::new(out, c);
    r.choose_input(c, config_dir);
    r.read_record();
    // Everything that asks the kernel runs on one thread that entered the namespace once.
    let ns = c.netns.clone();
    let r = match hostwall::netns::run_named(ns.as_deref(), move || r.in_namespace()) {
        Ok(r) => r,
        Err(e) => {
            let mut r = Run::new(out, c);
            r.choose_input(c, config_dir);
            r.read_record();
            for part in [
                Part::Ruleset,
                Part::Counters,
                Part::Pending,
                Part::SourceLimits,
            ] {
                r.fail(part, e.to_string());
            }
            r
        }
    };
    let text = hostwall::metrics::render(&r.snap);
    for e in &r.snap.errors {
        out.error(&format!("cannot read the {}: {}", e.part.name(), e.message));
    }
    let written = match &c.output {
        Some(path) => match hostwall::safe::atomic_write(path, text.as_bytes(), 0o644) {
            Ok(()) => 0,
            Err(e) => {
                out.error(&format!("cannot write {}: {e}", path.display()));
                EXIT_SYSTEM
            }
        },
        None => out.stdout(&text),
    };
    if written != 0 || !r.snap.errors.is_empty() {
        EXIT_SYSTEM
    } else {
        0
    }
}

impl<'a> Run<'a> {
    fn new(out: &'a Out, c: &MetricsArgs) -> Run<'a> {
        Run {
            out,
            input: None,
            opts: DriftOptions {
                netns: c.netns.clone(),
                state_dir: c.state_dir.clone(),
                full: c.full,
            },
            record: None,
            compiled: None,
            snap: Snapshot::default(),
        }
    }

    /// Drift, counters and the pending change, on a thread already in the namespace.
    fn in_namespace(mut self) -> Self {
        self.drift();
        self.counters();
        self.pending();
        self.source_sets();
        self
    }

    /// The drift options for a thread already in the namespace (`opts` names it, for
    /// the state directory's per-namespace files).
    fn here(&self) -> DriftOptions {
        DriftOptions {
            netns: None,
            ..self.opts.clone()
        }
    }
    fn fail(&mut self, part: Part, message: impl Into<String>) {
        self.snap.errors.push(ScrapeError {
            part,
            message: message.into(),
        });
    }

    /// The policy and site file (named, else the configuration directory's; no built-in
    /// fallback: metrics describe the policy the host is meant to run).
    fn choose_input(&mut self, c: &MetricsArgs, dir: &Path) {
        let (policy, site) = (c.input.policy.as_deref(), c.input.site.as_deref());
        match hostwall::config::choose(dir, policy, site, hostwall::config::Fallback::Refuse) {
            Ok(chosen) => {
                self.input = Some(Input {
                    policy: chosen.policy,
                    site: chosen.site,
                })
            }
            Err(e) => self.fail(Part::Policy, e.to_string()),
        }
    }

    /// The apply record, and when it was written (its file's modification time).
    fn read_record(&mut self) {
        match drift::last_applied(&self.opts) {
            Ok(rec) => self.record = rec,
            Err(e) => return self.fail(Part::Record, e.to_string()),
        }
        let Some(rec) = &self.record else { return };
        let path = hostwall::record::path(&self.opts.state_dir, self.opts.netns.as_deref());
        let at = hostwall::safe::trust::open_file(&path)
            .ok()
            .flatten()
            .and_then(|f| f.metadata().ok()?.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        self.snap.applied = Some(Applied {
            genid: rec.genid,
            at,
        });
    }

    /// The compiled policy, compiled on first use (diagnostics go to stderr).
    fn compiled(&mut self) -> Option<&(Loaded, Ruleset)> {
        if self.compiled.is_none() {
            let got = match &self.input {
                Some(input) => load_compiled(self.out, input).ok(),
                None => None,
            };
            if got.is_none() && self.input.is_some() {
                self.fail(
                    Part::Policy,
                    "the policy does not compile (diagnostics above)",
                );
            }
            self.compiled = Some(got);
        }
        self.compiled.as_ref().and_then(|c| c.as_ref())
    }

    /// Drift, from the record when it proves nothing changed, else in full.
    fn drift(&mut self) {
        if let Some(report) = self.fast_path() {
            self.snap.drift = Some(report);
            return;
        }
        let opts = self.here();
        let Some((loaded, rs)) = self.compiled() else {
            return;
        };
        let locate = |s: &Span| loaded.map.location(*s);
        match drift::full_with(rs, &opts, &locate) {
            Ok(report) => self.snap.drift = Some(report),
            Err(e) => self.fail(Part::Ruleset, e.to_string()),
        }
    }

    fn fast_path(&mut self) -> Option<drift::DriftReport> {
        let stdin = self.input.as_ref()?.policy.as_deref() == Some(Path::new("-"));
        let rec = self.record.as_ref().filter(|_| !self.opts.full && !stdin)?;
        let input = self.input.as_ref()?;
        let digest = super::load::digest_for(input, rec)?;
        drift::fast(&self.here(), rec, &digest).ok().flatten()
    }

    /// The name of our table: the compiled policy's, else the apply record's.
    fn table(&mut self) -> Option<String> {
        match (&self.compiled, &self.record) {
            (Some(Some((_, rs))), _) => Some(rs.table.name.clone()),
            (_, Some(rec)) => Some(rec.table.clone()),
            _ => self.compiled().map(|(_, rs)| rs.table.name.clone()),
        }
    }

    /// The counted rules of our table, labelled by the compiled policy's lines.
    fn counters(&mut self) {
        let Some(table) = self.table() else {
            return self.fail(Part::Counters, "the table's name is not known");
        };
        let read = match hostwall::live::counters::read(&table, None) {
            Ok(read) => read,
            Err(e) => return self.fail(Part::Counters, e.to_string()),
        };
        let sums = if read.rules.is_empty() {
            labels::Sums::default()
        } else if let Some(sums) = self.cached_sums(&read.rules) {
            sums
        } else {
            let cache = self.cache_key();
            match self.compiled() {
                Some((loaded, rs)) => {
                    if let Some(key) = cache {
                        store_cache(loaded, rs, key);
                    }
                    labels::sums(&read.rules, Some(&labeller(loaded, rs).with()))
                }
                None => labels::sums(&read.rules, None),
            }
        };
        self.snap.counters = Some(sums);
    }

    /// How full each per-source limit set of our table is, and the lines it serves.
    fn source_sets(&mut self) {
        let Some(table) = self.table() else {
            return self.fail(Part::SourceLimits, "the table's name is not known");
        };
        let fills = match hostwall::live::learned::fill(&table, None) {
            Ok(f) => f,
            Err(e) => return self.fail(Part::SourceLimits, e.to_string()),
        };
        let lines = match fills.is_empty() {
            true => BTreeMap::new(),
            false => self.set_lines(),
        };
        self.snap.source_sets = Some(source::label(fills, &lines));
    }

    /// The policy lines of each dynamic set: from the policy compiled already, else
    /// from the label cache on the fast path, else compiled (and cached).
    fn set_lines(&mut self) -> BTreeMap<String, String> {
        if let Some(Some((loaded, rs))) = &self.compiled {
            return source::set_lines(rs, &line_of(loaded));
        }
        let key = self.cache_key();
        if let Some((path, digest)) = &key {
            if let Some(sets) = cache::load(path, digest).and_then(|c| c.sets) {
                return sets;
            }
        }
        match self.compiled() {
            Some((loaded, rs)) => {
                if let Some(key) = key {
                    store_cache(loaded, rs, key);
                }
                source::set_lines(rs, &line_of(loaded))
            }
            None => BTreeMap::new(),
        }
    }

    /// Where the label cache is and the digest it must carry, when the answer came from
    /// the fast path (the live table is exactly the recorded policy's).
    fn cache_key(&self) -> Option<(PathBuf, String)> {
        let rec = self.record.as_ref()?;
        self.snap.drift.as_ref().filter(|d| d.fast_path)?;
        let path = cache::path(&self.opts.state_dir, self.opts.netns.as_deref());
        Some((path, rec.digest.clone()))
    }

    /// The counters labelled from the cache, without compiling.
    fn cached_sums(&self, rules: &[Counted]) -> Option<labels::Sums> {
        let (path, digest) = self.cache_key()?;
        cache::sums(&cache::load(&path, &digest)?, rules)
    }

    /// Whether an `apply --confirm` change is pending here, and its time left.
    fn pending(&mut self) {
        let ns = self.opts.netns.as_deref();
        let slot = hostwall::nsid::NetnsId::of_thread()
            .map_err(|e| e.to_string())
            .and_then(|id| hostwall::safe::Slot::new(&id.key(), ns).map_err(|e| e.to_string()));
        let read = slot.and_then(|s| {
            hostwall::safe::pending::read(&self.opts.state_dir, &s).map_err(|e| e.to_string())
        });
        match read {
            Ok(p) => {
                self.snap.pending = p.map(|p| p.remaining());
            }
            Err(e) => self.fail(Part::Pending, e),
        }
    }
}

/// `file:line` of a policy line.
pub(crate) fn line_of(loaded: &Loaded) -> impl Fn(&Span) -> String + '_ {
    |s: &Span| {
        let (l, _) = loaded.map.line_col(*s);
        format!("{}:{l}", loaded.map.file(s.file).name)
    }
}

/// What labels the compiled policy's rules: its lines and the services they name.
struct Names<'a> {
    rs: &'a Ruleset,
    line: Box<dyn Fn(&Span) -> String + 'a>,
    service: Box<ServiceOf>,
}

/// The service a policy line names, if it names one.
type ServiceOf = dyn Fn(&Span) -> Option<String>;

fn labeller<'a>(loaded: &'a Loaded, rs: &'a Ruleset) -> Names<'a> {
    let mut services: HashMap<Span, Option<String>> = HashMap::new();
    if let Some(p) = &loaded.policy {
        for r in p.input.iter().chain(p.forward.iter().flatten()) {
            services.insert(r.span, r.service.clone());
        }
    }
    Names {
        rs,
        line: Box::new(line_of(loaded)),
        service: Box::new(move |s: &Span| services.get(s).cloned().flatten()),
    }
}

impl Names<'_> {
    fn with(&self) -> Labeller<'_> {
        Labeller {
            expected: self.rs,
            line: &*self.line,
            service: &*self.service,
        }
    }
}

/// Caches the labels of the counted rules and the lines of the per-source limit sets
/// for the next run (a cache that cannot be written only costs that run a compile).
fn store_cache(loaded: &Loaded, rs: &Ruleset, (path, digest): (PathBuf, String)) {
    let names = labeller(loaded, rs);
    let with = names.with();
    let mut labelled = cache::of(rs, &digest, |chain, r| {
        (!r.origin.is_empty()).then(|| labels::policy_labels(chain, r, &with))
    });
    labelled.sets = Some(source::set_lines(rs, &*names.line));
    let _ = cache::store(&path, &labelled);
}
