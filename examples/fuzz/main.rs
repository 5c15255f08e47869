//! Long-running mutation fuzzer over check + format + compile + emit of mutated policies,
//! site files and includes (see `engine.rs` for what counts as a finding).
//!
//! ```text
//! cargo run --release --example fuzz -- --seconds 3600
//! ```
//! Options: `--seconds N` (default 300), `--seed N`, `--case-ms N` (time bound per case,
//! default 2000), `--rss-mib N` (peak RSS ceiling, default 1024), `--nft-ms N` (at most one
//! `nft -c -f` check of an accepted policy per N ms, default 500; 0 turns it off),
//! `--out DIR` (findings, default `target/fuzz`). Prints progress every 30 s and, at the end,
//! execs, crashes found and peak RSS; exits 1 when anything was found. A case that hangs for
//! 10 x the time bound is saved by a watchdog, which then ends the run (exit 3).

#[path = "engine.rs"]
mod engine;

use engine::{Config, Fuzzer, Stats};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Args {
    seconds: u64,
    seed: u64,
    case_ms: u64,
    rss_mib: u64,
    nft_ms: u64,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        seconds: 300,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        case_ms: 2000,
        rss_mib: 1024,
        nft_ms: 500,
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--seconds" => a.seconds = num()?,
            "--seed" => a.seed = num()?,
            "--case-ms" => a.case_ms = num()?,
            "--rss-mib" => a.rss_mib = num()?,
            "--nft-ms" => a.nft_ms = num()?,
            "--out" => a.out = PathBuf::from(value),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(a)
}

fn summary(s: &Stats, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    format!(
        "execs {} ({:.0}/s), accepted by check {}, nft-checked {}, crashes {}, slowest case {:?}, peak RSS {} MiB",
        s.execs,
        s.execs as f64 / secs,
        s.accepted,
        s.nft_checked,
        s.crashes.len(),
        s.slowest,
        s.peak_rss_kib >> 10
    )
}

/// Saves the running case and ends the process when one case runs far past its bound.
fn watchdog(
    current: std::sync::Arc<std::sync::Mutex<(Instant, engine::Input)>>,
    limit: Duration,
    out: PathBuf,
) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let guard = current.lock().unwrap_or_else(|e| e.into_inner());
            if guard.0.elapsed() > limit {
                let dir = out.join("hang");
                let _ = guard.1.save(&dir);
                eprintln!(
                    "fuzz: a case has run for {:?}; saved to {}; stopping",
                    guard.0.elapsed(),
                    dir.display()
                );
                eprintln!(
                    "fuzz: crashes found: 1 (hang), peak RSS {} MiB",
                    engine::peak_rss_kib() >> 10
                );
                std::process::exit(3);
            }
        }
    });
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fuzz: {e}");
            std::process::exit(2);
        }
    };
    let case_limit = Duration::from_millis(args.case_ms);
    let cfg = Config {
        seed: args.seed,
        case_limit,
        rss_limit_kib: args.rss_mib << 10,
        nft_every: (args.nft_ms > 0).then(|| Duration::from_millis(args.nft_ms)),
        out_dir: Some(args.out.clone()),
    };
    let seeds = engine::seeds(Path::new(env!("CARGO_MANIFEST_DIR")));
    eprintln!(
        "fuzz: seed {}, {} seed inputs, {} s, findings to {}",
        args.seed,
        seeds.len(),
        args.seconds,
        args.out.display()
    );
    let mut f = match Fuzzer::new(cfg, seeds) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fuzz: {e}");
            std::process::exit(2);
        }
    };
    engine::quiet_panics();
    watchdog(f.current.clone(), case_limit * 10, args.out.clone());
    let start = Instant::now();
    f.run_for(
        Duration::from_secs(args.seconds),
        Duration::from_secs(30),
        |s| {
            eprintln!(
                "fuzz: {:>5}s {}",
                start.elapsed().as_secs(),
                summary(s, start.elapsed())
            );
        },
    );
    let s = &f.stats;
    for (i, (c, hits)) in s.crashes.iter().enumerate() {
        eprintln!(
            "fuzz: finding {i:03} {:?} (hit {hits}x, policy of {} bytes): {}",
            c.kind,
            c.input.policy.len(),
            c.detail.lines().next().unwrap_or("")
        );
    }
    println!("{}", summary(s, start.elapsed()));
    println!("execs: {}", s.execs);
    println!("crashes found: {}", s.crashes.len());
    println!("peak RSS: {} MiB", s.peak_rss_kib >> 10);
    std::process::exit(if s.crashes.is_empty() { 0 } else { 1 });
}
