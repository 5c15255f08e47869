//! Helper for `benches/source_fill.sh`: `source_fill_read NETNS TABLE RUNS` reads the
//! per-source limit sets of `inet TABLE` in /run/netns/NETNS RUNS times each way, in
//! process: counted (`live::learned::fill`, what `metrics` and `diff --check` read) and
//! decoded (`live::learned::read`), and prints both medians in microseconds and the
//! entries counted.

use std::process::ExitCode;
use std::time::Instant;

fn median(mut t: Vec<u128>) -> u128 {
    t.sort_unstable();
    t[(t.len() - 1) / 2]
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ns, table, runs] = args.as_slice() else {
        eprintln!("usage: source_fill_read NETNS TABLE RUNS");
        return ExitCode::from(2);
    };
    let Ok(runs) = runs.parse::<usize>() else {
        eprintln!("RUNS must be a number");
        return ExitCode::from(2);
    };
    let (mut counted, mut decoded, mut entries) = (Vec::new(), Vec::new(), 0);
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        match hostwall::live::learned::fill(table, Some(ns)) {
            Ok(f) => entries = f.iter().map(|f| f.entries).sum(),
            Err(e) => {
                eprintln!("source_fill_read: {e}");
                return ExitCode::from(2);
            }
        }
        counted.push(t.elapsed().as_micros());
        let t = Instant::now();
        if let Err(e) = hostwall::live::learned::read(table, Some(ns)) {
            eprintln!("source_fill_read: {e}");
            return ExitCode::from(2);
        }
        decoded.push(t.elapsed().as_micros());
    }
    println!("{} {} {entries}", median(counted), median(decoded));
    ExitCode::SUCCESS
}
