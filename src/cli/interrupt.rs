//! What the binary does when interrupted while it holds network namespaces (`verify`'s
//! lab): remove them, then die of the signal, as if it had never been caught.

/// Installs the namespace cleanup for SIGINT, SIGTERM and SIGHUP.
pub fn remove_namespaces_then_die() {
    hostwall::netns::on_interrupt(die_of);
}

fn die_of(sig: libc::c_int) {
    // SAFETY: restoring the default action and re-raising terminates the process
    // with the original signal.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::kill(libc::getpid(), sig);
    }
}
