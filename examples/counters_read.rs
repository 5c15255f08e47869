//! Helper for `benches/metrics.sh`: `counters_read NETNS TABLE RUNS` reads the counted
//! rules of `inet TABLE` in /run/netns/NETNS (what `hostwall metrics` reads: one rule
//! dump, the set list) RUNS times in-process and prints the median in microseconds and
//! the number of counted rules.

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ns, table, runs] = args.as_slice() else {
        eprintln!("usage: counters_read NETNS TABLE RUNS");
        return ExitCode::from(2);
    };
    let Ok(runs) = runs.parse::<usize>() else {
        eprintln!("RUNS must be a number");
        return ExitCode::from(2);
    };
    let mut times = Vec::new();
    let mut counted = 0;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        match hostwall::live::counters::read(table, Some(ns)) {
            Ok(r) => counted = r.rules.len(),
            Err(e) => {
                eprintln!("counters_read: {e}");
                return ExitCode::from(2);
            }
        }
        times.push(t.elapsed().as_micros());
    }
    times.sort_unstable();
    println!("{} {counted}", times[(times.len() - 1) / 2]);
    ExitCode::SUCCESS
}
