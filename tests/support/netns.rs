//! Running test code inside a new, empty network namespace of its own.

/// Runs `f` on a thread moved into a new, empty network namespace (dropped when the
/// thread ends). Panics rather than run anything in the caller's namespace.
pub fn in_new_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Err(e) = hostwall::netns::unshare_thread() {
                panic!("cannot create a test network namespace (needs root): {e}");
            }
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}
