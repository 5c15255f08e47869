//! The mutation fuzzer's engine: mutates policies, site files and includes from a seed
//! corpus, runs check + format + compile + every emitter on each, and records what breaks:
//! a panic, a case over the time bound, peak RSS over the ceiling, a formatter that is not
//! idempotent, an emitter that fails on a checked policy, or (sampled) an accepted policy
//! whose nft text `nft -c -f` refuses in a throwaway namespace. Shared by `examples/fuzz`
//! (the long run) and the test suite (a short smoke run).

use hostwall::check::{self, Includes};
use hostwall::source::SourceMap;
use std::collections::{BTreeMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest mutated file; bigger inputs are cut back (they only slow the search).
const MAX_INPUT: usize = 64 << 10;
/// Corpus entries kept (seeds plus inputs that showed new behaviour).
const MAX_CORPUS: usize = 2000;
/// Include names the mutator writes and the in-memory include set answers.
const INCLUDE_NAMES: &[&str] = &["a.policy", "b.policy", "sub/c.policy", "../a.policy"];

/// Words and values that get random text past the first token, and values at the limits.
const TOKENS: &[&str] = &[
    "policy p {",
    "}",
    "{",
    "\n",
    ";",
    ",\n",
    " ",
    "allow",
    "drop",
    "reject",
    "default drop",
    "default reject",
    "forwarding on",
    "forwarding ipv6 off",
    "forward {",
    "service web",
    "define net =",
    "log rejected",
    "count rejected",
    "limit 10/minute",
    "burst 5",
    "burst 307445735",
    "limit 1/day burst 213504",
    "prefix \"fw: \"",
    "group 65535",
    "group 65536",
    "tcp",
    "udp",
    "sctp",
    "icmp",
    "icmpv6",
    "echo-request",
    "nd-neighbor-solicit",
    "from",
    "to",
    "in",
    "out",
    "on",
    "established",
    "counter",
    "22",
    "0",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "99999999999999999999999",
    "1-65535",
    "6166-5634",
    "10.0.0.0/8",
    "10.0.0.1/8",
    "0.0.0.0/0",
    "::/0",
    "fd00::/64",
    "::1",
    "255.255.255.255/32",
    "1.2.3.4/33",
    "mgmt",
    "guests",
    "up",
    "ssh",
    "dns",
    "\"virbr*\"",
    "\"eth0\"",
    "\"abcdefghijklmn*\"",
    "\"abcdefghijklmno*\"",
    "\"abcdefghijklmno\"",
    "\"*\"",
    "\"a\\\\b\"",
    "\"$x\"",
    "\"é\"",
    "#c",
    "include \"a.policy\"",
    "include \"b.policy\"",
    "include \"sub/c.policy\"",
    "include \"../a.policy\"",
    "include \"missing.policy\"",
    "\u{feff}",
    "\0",
    "\x1b[2J",
    "\r\n",
    "\u{202e}",
    "é",
];

/// Site-file pieces.
const SITE_TOKENS: &[&str] = &[
    "table = \"hostwall\"\n",
    "table = \"drop\"\n",
    "table = \"a-b_c\"\n",
    "priority = 400\n",
    "priority = -401\n",
    "log_prefix = \"site: \"\n",
    "log_prefix = \"\\u0000\"\n",
    "[networks]\n",
    "mgmt = [\"10.0.0.0/24\", \"fd00:10::/64\"]\n",
    "snet = []\n",
    "[interfaces]\n",
    "up = \"eno1\"\n",
    "guests = [\"virbr*\", \"vnet-guest-1234*\"]\n",
    "x = 1\n",
    "\"",
    "[",
    "]",
    "=",
    "\n",
    "\\",
    "\u{0}",
    "é",
];

/// One fuzz input: a policy, maybe a site file, and the files its includes may name.
#[derive(Clone, Debug, Default)]
pub struct Input {
    pub policy: Vec<u8>,
    pub site: Option<Vec<u8>>,
    pub includes: BTreeMap<String, Vec<u8>>,
}

impl Input {
    /// Writes the input under `dir` (policy, site.toml, includes by name) for replay.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("policy"), &self.policy)?;
        if let Some(s) = &self.site {
            std::fs::write(dir.join("site.toml"), s)?;
        }
        for (name, bytes) in &self.includes {
            let p = dir.join("includes").join(name.replace("../", "up/"));
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, bytes)?;
        }
        Ok(())
    }
}

/// What went wrong in one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Panic,
    Slow,
    Memory,
    Format,
    Emit,
    Nft,
}

#[derive(Clone, Debug)]
pub struct Crash {
    pub kind: Kind,
    pub detail: String,
    pub input: Input,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    /// A case taking longer than this is a finding.
    pub case_limit: Duration,
    /// Peak RSS above this is a finding (and stops the run).
    pub rss_limit_kib: u64,
    /// At most one `nft -c -f` check per this interval (`None`: never).
    pub nft_every: Option<Duration>,
    /// Where findings are written (`None`: kept in memory only).
    pub out_dir: Option<PathBuf>,
}

#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub execs: u64,
    pub accepted: u64,
    pub nft_checked: u64,
    pub slowest: Duration,
    pub peak_rss_kib: u64,
    /// Unique findings (by kind and first line of detail), with how often each was hit.
    pub crashes: Vec<(Crash, u64)>,
}

/// splitmix64: small, seedable, good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Includes answered from the input's own files, named as the CLI names them.
struct MemIncludes<'a>(&'a BTreeMap<String, Vec<u8>>);

impl Includes for MemIncludes<'_> {
    fn load(&self, from: &str, path: &str) -> Result<(String, Vec<u8>), String> {
        let dir = Path::new(from).parent().unwrap_or(Path::new(""));
        let name = dir.join(path).to_string_lossy().into_owned();
        let key = name.trim_start_matches("./").to_string();
        match self.0.get(&key).or_else(|| self.0.get(path)) {
            Some(b) => Ok((name, b.clone())),
            None => Err(format!("cannot read {name}: not found")),
        }
    }
}

/// Where the last panic happened (set by the hook [`quiet_panics`] installs).
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Replaces the panic hook with one that only remembers where the panic was: the fuzzer
/// reports panics itself, once per distinct place.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }));
}

/// Peak resident set size of this process, in KiB (`VmHWM`).
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The seed corpus: every policy and site file in the repository.
pub fn seeds(root: &Path) -> Vec<Input> {
    let mut out = Vec::new();
    let mut dirs = vec![root.join("policies"), root.join("tests/data")];
    while let Some(d) = dirs.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name != "policy" && !name.ends_with(".policy") {
                continue;
            }
            let Ok(policy) = std::fs::read(&p) else {
                continue;
            };
            let site = std::fs::read(p.with_file_name("site.toml"))
                .or_else(|_| std::fs::read(p.with_extension("site.toml")))
                .ok();
            out.push(Input {
                policy,
                site,
                includes: BTreeMap::new(),
            });
        }
    }
    if out.is_empty() {
        out.push(Input {
            policy: hostwall::DEFAULT_POLICY.as_bytes().to_vec(),
            ..Input::default()
        });
    }
    out
}

/// One mutation of `bytes`, drawing spliced text from `donor`.
fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>, tokens: &[&str], donor: &[u8]) {
    let at = |rng: &mut Rng, len: usize| rng.below(len + 1);
    match rng.below(9) {
        0 | 1 => {
            let p = at(rng, bytes.len());
            let t = rng.pick(tokens).as_bytes();
            bytes.splice(p..p, t.iter().copied());
        }
        2 => {
            let p = at(rng, bytes.len());
            let end = (p + rng.below(16)).min(bytes.len());
            let t = rng.pick(tokens).as_bytes();
            bytes.splice(p..end, t.iter().copied());
        }
        3 => {
            let p = at(rng, bytes.len());
            let end = (p + 1 + rng.below(32)).min(bytes.len());
            bytes.drain(p..end);
        }
        4 => {
            // Duplicate a chunk: grows lists, nests blocks, repeats statements.
            let p = at(rng, bytes.len());
            let end = (p + 1 + rng.below(256)).min(bytes.len());
            let chunk: Vec<u8> = bytes[p..end].to_vec();
            let q = at(rng, bytes.len());
            bytes.splice(q..q, chunk);
        }
        5 if !donor.is_empty() => {
            let p = rng.below(donor.len());
            let end = (p + 1 + rng.below(200)).min(donor.len());
            let q = at(rng, bytes.len());
            bytes.splice(q..q, donor[p..end].iter().copied());
        }
        6 if !bytes.is_empty() => {
            let p = rng.below(bytes.len());
            bytes[p] ^= 1 << rng.below(8);
        }
        7 => {
            let p = at(rng, bytes.len());
            let b = *rng.pick(&[0u8, 0x7f, 0x80, 0xc3, 0xff, b'"', b'#', b'*', b'\\', b'\r']);
            bytes.insert(p, b);
        }
        _ => {
            // Replace a number with a limit value.
            let digits: Vec<usize> = (0..bytes.len())
                .filter(|&i| bytes[i].is_ascii_digit())
                .collect();
            if let Some(&p) = digits.get(rng.below(digits.len().max(1))) {
                let end = (p..bytes.len())
                    .find(|&i| !bytes[i].is_ascii_digit())
                    .unwrap_or(bytes.len());
                let v = *rng.pick(&[
                    "0",
                    "1",
                    "14",
                    "15",
                    "16",
                    "32",
                    "33",
                    "127",
                    "128",
                    "255",
                    "256",
                    "65535",
                    "65536",
                    "4294967295",
                    "4294967296",
                    "307445735",
                ]);
                bytes.splice(p..end, v.bytes());
            }
        }
    }
    bytes.truncate(MAX_INPUT);
}

/// A mutated copy of `base`: one to four edits spread over the policy, site and includes.
pub fn mutate(rng: &mut Rng, base: &Input, donor: &Input) -> Input {
    let mut x = base.clone();
    for _ in 0..1 + rng.below(4) {
        match rng.below(10) {
            0..=5 => mutate_bytes(rng, &mut x.policy, TOKENS, &donor.policy),
            6 | 7 => {
                let site = x.site.get_or_insert_with(Vec::new);
                let donor = donor.site.as_deref().unwrap_or(&[]);
                mutate_bytes(rng, site, SITE_TOKENS, donor);
            }
            _ => {
                let name = rng.pick(INCLUDE_NAMES).to_string();
                let inc = x.includes.entry(name).or_insert_with(|| {
                    b"define inc = 192.0.2.0/24\nservice incsvc tcp 8080\n".to_vec()
                });
                mutate_bytes(rng, inc, TOKENS, &donor.policy);
            }
        }
    }
    x
}

/// What one run of the pipeline gave.
struct Outcome {
    /// The nft text, when check accepted the input.
    script: Option<String>,
    /// The diagnostic codes, for novelty.
    codes: Vec<&'static str>,
}

/// check + format + compile + text/JSON/netlink emit. Err: a finding (not a panic).
fn pipeline(x: &Input) -> Result<Outcome, (Kind, String)> {
    let mut map = SourceMap::new();
    let site = x.site.as_deref().map(|s| ("site.toml", s));
    let (checked, diags) = check::check_bytes(
        &mut map,
        ("policy", x.policy.as_slice()),
        site,
        &MemIncludes(&x.includes),
    );
    let _ = hostwall::diag::render(&map, &diags, hostwall::diag::Color::Never);
    let mut codes: Vec<&'static str> = diags.iter().map(|d| d.code).collect();
    codes.sort_unstable();
    codes.dedup();
    let mut fmap = SourceMap::new();
    let (f, _) = hostwall::text::add(&mut fmap, "policy", &x.policy);
    if let Ok(once) = hostwall::syntax::format(&fmap, f) {
        let g = fmap.add("formatted", once.clone());
        match hostwall::syntax::format(&fmap, g) {
            Ok(twice) if twice == once => {}
            Ok(_) => return Err((Kind::Format, "formatting is not idempotent".into())),
            Err(d) => {
                let first = d.first().map(|d| d.message.clone()).unwrap_or_default();
                return Err((
                    Kind::Format,
                    format!("formatted text does not parse: {first}"),
                ));
            }
        }
    }
    let Some(policy) = checked else {
        return Ok(Outcome {
            script: None,
            codes,
        });
    };
    let rs = hostwall::compile::compile(&policy);
    let script = hostwall::emit::text::render(&rs, "policy");
    let _ = hostwall::emit::json::render(&rs);
    if let Err(e) = hostwall::emit::netlink::build(&rs, &Default::default()) {
        return Err((
            Kind::Emit,
            format!("netlink emit of a checked policy failed: {e}"),
        ));
    }
    Ok(Outcome {
        script: Some(script),
        codes,
    })
}

/// `nft -c -f` on `script` in a new user+network namespace. Err: what nft said.
pub fn nft_check(script: &str, scratch: &Path) -> Result<(), String> {
    let path = scratch.join(format!("fuzz-{}.nft", std::process::id()));
    std::fs::write(&path, script).map_err(|e| e.to_string())?;
    let out = Command::new("unshare")
        .args(["-rn", "nft", "-c", "-f"])
        .arg(&path)
        .output()
        .map_err(|e| format!("cannot run `unshare -rn nft`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub struct Fuzzer {
    cfg: Config,
    rng: Rng,
    corpus: Vec<Input>,
    /// The first `seeds` corpus entries are the repository's files: never replaced, and
    /// the base of a quarter of the cases, so a long run keeps mutating valid policies
    /// instead of drifting into inputs that only exercise error paths.
    seeds: usize,
    seen: HashSet<Vec<&'static str>>,
    pub stats: Stats,
    /// The input being run, for a watchdog that outlives a hung case.
    pub current: Arc<Mutex<(Instant, Input)>>,
    last_nft: Option<Instant>,
    scratch: tempfile::TempDir,
}

impl Fuzzer {
    pub fn new(cfg: Config, seeds: Vec<Input>) -> std::io::Result<Fuzzer> {
        Ok(Fuzzer {
            rng: Rng::new(cfg.seed),
            cfg,
            seeds: seeds.len(),
            corpus: seeds,
            seen: HashSet::new(),
            stats: Stats::default(),
            current: Arc::new(Mutex::new((Instant::now(), Input::default()))),
            last_nft: None,
            scratch: tempfile::tempdir()?,
        })
    }

    /// Runs cases until `budget` has passed, calling `tick` about every `every`.
    pub fn run_for(&mut self, budget: Duration, every: Duration, mut tick: impl FnMut(&Stats)) {
        let start = Instant::now();
        let mut last_tick = start;
        while start.elapsed() < budget {
            self.one();
            if self.stats.execs % 64 == 0 {
                self.stats.peak_rss_kib = peak_rss_kib();
                if self.stats.peak_rss_kib > self.cfg.rss_limit_kib {
                    let input = self.lock_current().1.clone();
                    let detail = format!("peak RSS {} MiB", self.stats.peak_rss_kib >> 10);
                    self.record(Kind::Memory, detail, input);
                    break;
                }
                if last_tick.elapsed() >= every {
                    last_tick = Instant::now();
                    tick(&self.stats);
                }
            }
        }
        self.stats.peak_rss_kib = peak_rss_kib();
    }

    fn lock_current(&self) -> std::sync::MutexGuard<'_, (Instant, Input)> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One mutated case through the pipeline.
    fn one(&mut self) {
        let base = if self.seeds > 0 && self.rng.below(4) == 0 {
            self.rng.below(self.seeds)
        } else {
            self.rng.below(self.corpus.len())
        };
        let donor = self.rng.below(self.corpus.len());
        let input = mutate(&mut self.rng, &self.corpus[base], &self.corpus[donor]);
        *self.lock_current() = (Instant::now(), input.clone());
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| pipeline(&input)));
        let took = started.elapsed();
        self.stats.execs += 1;
        self.stats.slowest = self.stats.slowest.max(took);
        if took > self.cfg.case_limit {
            self.record(Kind::Slow, format!("case took {took:?}"), input.clone());
        }
        match result {
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                let at = LAST_PANIC.lock().map(|s| s.clone()).unwrap_or_default();
                self.record(Kind::Panic, format!("panic at {at}: {msg}"), input);
            }
            Ok(Err((kind, detail))) => self.record(kind, detail, input),
            Ok(Ok(out)) => self.learn(input, out),
        }
    }

    /// Keeps inputs that were accepted or gave a new set of diagnostic codes; samples nft.
    fn learn(&mut self, input: Input, out: Outcome) {
        let new = self.seen.insert(out.codes);
        if let Some(script) = &out.script {
            self.stats.accepted += 1;
            let due = match (self.cfg.nft_every, self.last_nft) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(every), Some(last)) => last.elapsed() >= every,
            };
            if due {
                self.last_nft = Some(Instant::now());
                self.stats.nft_checked += 1;
                if let Err(e) = nft_check(script, self.scratch.path()) {
                    self.record(Kind::Nft, e, input.clone());
                }
            }
        }
        if new || (out.script.is_some() && self.rng.below(50) == 0) {
            if self.corpus.len() >= MAX_CORPUS {
                let i = self.seeds + self.rng.below(self.corpus.len() - self.seeds);
                self.corpus[i] = input;
            } else {
                self.corpus.push(input);
            }
        }
    }

    fn record(&mut self, kind: Kind, detail: String, input: Input) {
        let key = detail.lines().next().unwrap_or("").to_string();
        if let Some(c) = self
            .stats
            .crashes
            .iter_mut()
            .find(|(c, _)| c.kind == kind && c.detail.lines().next() == Some(key.as_str()))
        {
            c.1 += 1;
            return;
        }
        if let Some(dir) = &self.cfg.out_dir {
            let n = self.stats.crashes.len();
            let _ = input.save(&dir.join(format!("{n:03}-{kind:?}").to_lowercase()));
            let _ = std::fs::write(
                dir.join(format!("{n:03}-{kind:?}").to_lowercase())
                    .join("finding.txt"),
                &detail,
            );
        }
        self.stats.crashes.push((
            Crash {
                kind,
                detail,
                input,
            },
            1,
        ));
    }
}
