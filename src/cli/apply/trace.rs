//! `HOSTWALL_TRACE_PHASES=1`: apply's wall time per phase on standard error (parse and
//! check, compile, the unchanged checks, the apply's own phases, the warnings, the
//! record), with the page faults each phase took, its peak resident memory and the
//! resident memory at its end (`/proc/self/stat` and `status`; the peak is reset after
//! each phase through `/proc/self/clear_refs`), for profiling; nothing is printed
//! without it. `HOSTWALL_TRACE_PHASES=time`: the times alone, without the memory figures,
//! whose reads cost about 0.2 ms a phase.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When the last phase ended and the faults until then, and each phase's name, time,
/// and memory (none for a phase measured inside the library).
type Phases = (Instant, u64, Vec<(String, Duration, Option<Memory>)>);

/// A phase's page faults, and its peak and final resident KiB.
struct Memory {
    faults: u64,
    peak: u64,
    rss: u64,
}

static PHASES: Mutex<Option<Phases>> = Mutex::new(None);

/// When `main` began: the first phase is the time from there to `apply`'s entry.
static BEGAN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// Notes when the process's `main` began (its first step).
pub fn began() {
    let _ = BEGAN.set(Instant::now());
}

fn on() -> bool {
    std::env::var_os("HOSTWALL_TRACE_PHASES").is_some_and(|v| v == "1" || v == "time")
}

/// Whether the memory figures are left out (`HOSTWALL_TRACE_PHASES=time`).
fn time_only() -> bool {
    std::env::var_os("HOSTWALL_TRACE_PHASES").is_some_and(|v| v == "time")
}

/// Starts timing (at `apply`'s entry).
pub fn start() {
    if on() {
        let mut p = PHASES.lock().unwrap_or_else(|e| e.into_inner());
        if time_only() {
            let now = Instant::now();
            let before = BEGAN
                .get()
                .map(|b| ("main to apply".to_string(), now - *b, None));
            *p = Some((now, 0, before.into_iter().collect()));
            return;
        }
        *p = Some((Instant::now(), memory().faults, Vec::new()));
        reset_peak();
    }
}

/// Ends the phase running since the previous mark (or the start) as `name`.
pub fn mark(name: &str) {
    if !on() {
        return;
    }
    let mut p = PHASES.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if time_only() {
        if let Some((since, _, list)) = p.as_mut() {
            list.push((name.to_string(), now - *since, None));
            *since = now;
        }
        return;
    }
    let mut m = memory();
    reset_peak();
    let Some((since, faults_before, list)) = p.as_mut() else {
        return;
    };
    let faults = m.faults;
    m.faults = faults.saturating_sub(*faults_before);
    list.push((name.to_string(), now - *since, Some(m)));
    *since = now;
    *faults_before = faults;
}

/// Starts the peak resident memory (`VmHWM`) over from the resident memory now.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's minor page faults so far, its peak resident KiB since the last reset
/// and its resident KiB now (0 when unreadable).
fn memory() -> Memory {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces,
    // start at field 3 (state); minflt is field 10.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let faults = (rest.split_whitespace().nth(10 - 3)).and_then(|v| v.parse().ok());
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| -> u64 {
        (status.lines())
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Memory {
        faults: faults.unwrap_or(0),
        peak: kib("VmHWM:"),
        rss: kib("VmRSS:"),
    }
}

/// A phase measured elsewhere (inside the library's apply), listed as it is.
pub fn add(name: &str, d: Duration) {
    if !on() {
        return;
    }
    let mut p = PHASES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, list)) = p.as_mut() {
        list.push((format!("  {name}"), d, None));
    }
}

/// The phases, one line each, when tracing is on.
pub fn report() -> Option<String> {
    if !on() {
        return None;
    }
    let p = PHASES.lock().unwrap_or_else(|e| e.into_inner());
    let (_, _, list) = p.as_ref()?;
    let mut s = String::from("hostwall: phases (ms; page faults; peak and final resident MiB):\n");
    let mib = |kib: u64| kib as f64 / 1024.0;
    for (name, d, mem) in list {
        s.push_str(&format!("  {name:<31} {:8.2}", d.as_secs_f64() * 1e3));
        if let Some(m) = mem {
            s.push_str(&format!(
                " {:7} {:7.1} {:7.1}",
                m.faults,
                mib(m.peak),
                mib(m.rss)
            ));
        }
        s.push('\n');
    }
    Some(s)
}
