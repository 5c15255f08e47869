//! The `hostwall` binary: parse arguments, run the subcommand, turn the outcome into an exit code.

// Checker functions return `Result<_, Diagnostic>`; diagnostics are the cold path and
// boxing each one would only add noise.
#![allow(clippy::result_large_err)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::apply::trace::began();
    tune_heap();
    warm_heap();
    let args = cli::Args::from_env();
    let code = cli::run(args);
    report_peak();
    code
}

/// `HOSTWALL_TRACE_PEAK=1`: the process's peak resident memory (`VmHWM`) on standard
/// error as its last line, `hostwall: peak memory N kB`, for benchmarks and the memory
/// tests. The kernel's own figure for a child (`wait4`'s `ru_maxrss`) also counts the
/// memory of whatever process spawned it, up to its exec.
fn report_peak() {
    if std::env::var_os("HOSTWALL_TRACE_PEAK").is_none_or(|v| v != "1") {
        return;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status.lines().find_map(|l| l.strip_prefix("VmHWM:"));
    if let Some(kb) = peak.and_then(|v| v.trim().strip_suffix("kB")) {
        eprintln!("hostwall: peak memory {} kB", kb.trim());
    }
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
/// at once (`tests/it/lean.rs`, `benches/lean.sh`); once the input read is big the
/// padding stops ([`reading`]). Measured: 100,000 prefixes
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

/// Faults in the first [`WARM_BYTES`] of the heap, in one system call a block, and gives
/// them back to it: the run's small allocations (syntax tree, names, maps, records) are
/// then carved from pages already there, not each faulted in on first touch. Measured on
/// a 2-CPU VM (re-apply of 100,000 prefixes with one changed, two builds alternating, 20
/// pairs): without it 0.4-0.8 ms slower, with ~130 more page faults, which alone cost
/// about 0.2 ms (1-1.5 µs each); the rest is measured, not explained (a helper thread
/// populating its own memory page by page instead of in one call changed nothing). The
/// full command-line parser, which builds every subcommand's arguments, used to warm the
/// heap the same way by its allocations; `apply`'s is now made alone
/// (`cli::Args::from_env`). More than 256 KiB warmed (1 and 3 MiB) gained nothing more.
fn warm_heap() {
    // Below the mapping threshold set in `tune_heap`, so each comes from the heap.
    let blocks: Vec<Vec<u8>> = (0..WARM_BYTES / WARM_BLOCK)
        .map(|_| {
            let mut v = Vec::new();
            hostwall::pages::reserve_faulted(&mut v, WARM_BLOCK);
            v
        })
        .collect();
    drop(blocks);
}

const WARM_BYTES: usize = 256 << 10;
const WARM_BLOCK: usize = 64 << 10;

/// Input of at least this many bytes in all (about 250,000 addresses) is big: its peak
/// matters more than a re-apply's page faults, so the heap stops padding (see
/// [`reading`]).
const BIG_INPUT_BYTES: u64 = 4 << 20;

/// Input bytes read so far (policy, includes, site file).
static INPUT_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Gives the heap's free pages back to the kernel when the input is big (see
/// [`reading`]): glibc returns only the free top of the heap by itself, and what the
/// check and compile freed below live blocks stays resident. `apply` calls it before it
/// builds its batch, the moment of its peak (a million addresses: 64 MiB without, 58
/// with; `benches/lean.sh`).
pub(crate) fn trim_heap() {
    if INPUT_BYTES.load(std::sync::atomic::Ordering::Relaxed) < BIG_INPUT_BYTES {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim locks the allocator itself and touches no pointer of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Counts `bytes` of input about to be read. When the input turns big, the heap stops
/// growing 16 MiB at a time and gives back its free top before the big text comes: glibc
/// serves a request of any size from a top chunk large enough, so with the padding the
/// texts and, later, the sets landed inside the heap instead of mappings of their own,
/// where nothing freed around them could go back (a million addresses: apply's peak
/// 103 MB padded, 72 MB not; `benches/lean.sh`).
pub(crate) fn reading(bytes: u64) {
    use std::sync::atomic::Ordering::Relaxed;
    let before = INPUT_BYTES.fetch_add(bytes, Relaxed);
    if before < BIG_INPUT_BYTES && before.saturating_add(bytes) >= BIG_INPUT_BYTES {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt sets a tuning parameter and malloc_trim returns free memory to
        // the kernel; both lock the allocator themselves and touch no pointer of ours.
        unsafe {
            libc::mallopt(libc::M_TOP_PAD, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 10);
            libc::malloc_trim(0);
        }
    }
}
