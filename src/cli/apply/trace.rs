//! `HOSTWALL_TRACE_PHASES=1`: apply's wall time per phase on standard error (parse and
//! check, compile, the unchanged checks, the apply's own phases, the warnings, the
//! record), for profiling; nothing is printed without it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When the last phase ended, and each phase's name and time.
type Phases = (Instant, Vec<(String, Duration)>);

static PHASES: Mutex<Option<Phases>> = Mutex::new(None);

fn on() -> bool {
    std::env::var_os("HOSTWALL_TRACE_PHASES").is_some_and(|v| v == "1")
}

/// Starts timing (at `apply`'s entry).
pub fn start() {
    if on() {
        let mut p = PHASES.lock().unwrap_or_else(|e| e.into_inner());
        *p = Some((Instant::now(), Vec::new()));
    }
}

/// Ends the phase running since the previous mark (or the start) as `name`.
pub fn mark(name: &str) {
    if !on() {
        return;
    }
    let mut p = PHASES.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let Some((since, list)) = p.as_mut() else {
        return;
    };
    list.push((name.to_string(), now - *since));
    *since = now;
}

/// A phase measured elsewhere (inside the library's apply), listed as it is.
pub fn add(name: &str, d: Duration) {
    if !on() {
        return;
    }
    let mut p = PHASES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, list)) = p.as_mut() {
        list.push((format!("  {name}"), d));
    }
}

/// The phases, one line each, when tracing is on.
pub fn report() -> Option<String> {
    if !on() {
        return None;
    }
    let p = PHASES.lock().unwrap_or_else(|e| e.into_inner());
    let (_, list) = p.as_ref()?;
    let mut s = String::from("hostwall: phases (ms):\n");
    for (name, d) in list {
        s.push_str(&format!("  {name:<28} {:8.2}\n", d.as_secs_f64() * 1e3));
    }
    Some(s)
}
