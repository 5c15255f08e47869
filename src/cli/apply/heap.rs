//! Makes memory that `apply` frees leave the process: glibc's allocator otherwise raises
//! its mmap threshold (up to 32 MiB) after the first large buffer is freed, and then
//! serves the next large buffers (the ruleset's sets, the packed elements) from its heap,
//! whose freed middle stays resident. A fixed threshold keeps each buffer of 128 KiB or
//! more in a mapping of its own, returned to the kernel when it is dropped, so apply's
//! peak is what it holds at once (`tests/it/lean.rs`, `benches/lean.sh`).

/// Buffers of at least this many bytes get a mapping of their own.
const OWN_MAPPING: libc::c_int = 128 << 10;

/// Fixes the threshold for the rest of the process (no-op outside glibc).
pub fn return_freed_buffers() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; it is called before any thread
    // of ours allocates concurrently (at the start of the command).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_MAPPING);
    }
}
