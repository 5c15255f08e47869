//! The `hostwall` binary: parse arguments, run the subcommand, turn the outcome into an exit code.

// Checker functions return `Result<_, Diagnostic>`; diagnostics are the cold path and
// boxing each one would only add noise.
#![allow(clippy::result_large_err)]

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    tune_heap();
    let args = cli::Args::parse();
    cli::run(args)
}

/// glibc hands freed memory at the top of the heap back to the kernel (`brk`) once
/// 128 KiB are free, and grows it again 128 KiB at a time: a run that builds and drops
/// megabytes (a 100,000-address policy's text, AST, model, IR, records) paid a page
/// fault per 4 KiB each time. Up to 32 MiB free at the top is kept instead, and the heap
/// grows 16 MiB of address space at a time (pages still come only when touched). Blocks
/// of 128 KiB or more get a mapping of their own, returned to the kernel when freed: the
/// threshold is fixed there (glibc otherwise raises it up to 32 MiB after the first
/// large free, and serves the next large buffers — sets, packed elements, the batch —
/// from its heap, whose freed middle stays resident), so apply's peak is what it holds
/// at once (`tests/it/lean.rs`, `benches/lean.sh`). Measured: 100,000 prefixes
/// re-applied with one changed, ~1,900 fewer faults; `check` of 1,000,000 addresses
/// peaks lower (59 MB, was 60.6); 64 MiB of each raised that peak to 67 MB, and a 4 MiB
/// mmap threshold raised apply's at 1M to 230 MB.
fn tune_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's tuning parameters; it is called first
    // thing in main, before any other thread exists or anything is allocated by us.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
}
