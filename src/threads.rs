//! Helper threads for the short parallel steps (a file parsed beside another, sets
//! written beside the rest of a batch, the table record decoded beside the parse). Each
//! runs off the CPU of the thread that started it when the process may use another: a
//! new thread can start on its starter's CPU and share it until the scheduler moves one
//! of them, which takes longer than such a step lasts (on a 2-CPU VM a 1.5 ms helper
//! made the parse beside it 0.5 ms slower on average; a pure spin, the same). A thread
//! from [`spawn`] is moved by its starter; one in a scope, whose handle gives no way to
//! name it, moves itself once it first runs.

/// Starts `f` on a thread of its own, as `std::thread::Builder::spawn` does, off the
/// starter's CPU. The starter moves it, right after making it: a new thread first runs
/// on its starter's CPU, and moving itself would wait until it could take that CPU from
/// the starter (in a probe, about one start in four waited 2-3 ms). The thread waits
/// for the move before it runs `f`: once a thread has ended, its handle names no thread
/// (glibc finds its id cleared) and the move would apply to the starter itself, which
/// then left its CPU and waited 1-4 ms for another. A new thread often runs first, while
/// its starter waits, and a short `f` (a small table record decoded) could end in that
/// time.
pub fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    use std::os::unix::thread::JoinHandleExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(set) = this_cpu().and_then(others) else {
        return std::thread::Builder::new().name(name.into()).spawn(f);
    };
    let moved = std::sync::Arc::new(AtomicBool::new(false));
    let go = moved.clone();
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while !go.load(Ordering::Acquire) {
                std::thread::park();
            }
            f()
        })?;
    // SAFETY: the thread waits for `moved` above, so it has not ended and its pthread_t
    // names it; the kernel reads the set, owned here, within its size.
    unsafe {
        libc::pthread_setaffinity_np(handle.as_pthread_t(), size_of_val(&set), &set);
    }
    moved.store(true, Ordering::Release);
    handle.thread().unpark();
    Ok(handle)
}

/// [`spawn`] of a thread inside `scope`.
pub fn spawn_scoped<'scope, 'env, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    name: &str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::io::Result<std::thread::ScopedJoinHandle<'scope, T>> {
    let from = this_cpu();
    std::thread::Builder::new()
        .name(name.into())
        .spawn_scoped(scope, move || {
            move_off(from);
            f()
        })
}

/// The CPU this thread runs on now, if the kernel says.
fn this_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu takes nothing and returns a number or -1.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok()
}

/// Limits this thread to the CPUs it may use other than `cpu`, when there are any; else
/// leaves it as it is (a process limited to one CPU, or a failed call).
fn move_off(cpu: Option<usize>) {
    if let Some(set) = cpu.and_then(others) {
        // SAFETY: the kernel reads the set, owned here, within its size, for this
        // thread (0).
        unsafe {
            libc::sched_setaffinity(0, size_of_val(&set), &set);
        }
    }
}

/// The CPUs this thread may use other than `cpu`; `None` when there are none (or the
/// kernel does not say).
fn others(cpu: usize) -> Option<libc::cpu_set_t> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return None;
    }
    // SAFETY: the set is a plain bit array owned here, written by the kernel within its
    // size; the CPU_* helpers stay within the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of_val(&set), &mut set) != 0
            || !libc::CPU_ISSET(cpu, &set)
        {
            return None;
        }
        libc::CPU_CLR(cpu, &mut set);
        (libc::CPU_COUNT(&set) > 0).then_some(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPUs this thread may use.
    fn allowed() -> Vec<usize> {
        // SAFETY: the set is a plain bit array owned here, written by the kernel within
        // its size.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, size_of_val(&set), &mut set), 0);
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect()
        }
    }

    /// A helper that ends at once never moves its starter: the move is made while the
    /// helper still exists, so it cannot fall on the starter.
    #[test]
    fn a_helper_that_ends_at_once_leaves_its_starter_where_it_may_run() {
        let before = allowed();
        for _ in 0..300 {
            let h = spawn("probe", || 1).expect("spawn");
            // Give the helper time to end before it would be moved.
            std::thread::yield_now();
            assert_eq!(h.join().expect("join"), 1);
            assert_eq!(allowed(), before, "the starter's CPUs changed");
        }
    }

    /// Moved off a CPU, a thread runs elsewhere at once, whenever the process may use
    /// another; helpers give their results back as plain threads do.
    #[test]
    fn a_helper_is_moved_off_its_starters_cpu() {
        let allowed = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("Cpus_allowed_list:"))?;
                Some(line.split(':').nth(1)?.trim().to_string())
            })
            .unwrap_or_default();
        let several = allowed.contains(',') || allowed.contains('-');
        for _ in 0..20 {
            let from = this_cpu().expect("sched_getcpu");
            let on = std::thread::spawn(move || {
                move_off(Some(from));
                this_cpu()
            })
            .join()
            .expect("join");
            match several {
                true => assert_ne!(on, Some(from), "allowed: {allowed}"),
                false => assert_eq!(on, Some(from), "allowed: {allowed}"),
            }
            // Moved by its starter: once the starter has let it go on, it runs elsewhere.
            let (go, wait) = std::sync::mpsc::channel::<()>();
            let from = this_cpu().expect("sched_getcpu");
            let moved = spawn("probe", move || wait.recv().map(|()| this_cpu())).expect("spawn");
            go.send(()).expect("send");
            let on = moved.join().expect("join").expect("recv");
            match several {
                true => assert_ne!(on, Some(from), "allowed: {allowed}"),
                false => assert_eq!(on, Some(from), "allowed: {allowed}"),
            }
            let h = spawn("probe", || 6).expect("spawn");
            let scoped = std::thread::scope(|s| {
                let g = spawn_scoped(s, "probe", || 7).expect("spawn");
                g.join().expect("join")
            });
            assert_eq!((h.join().expect("join"), scoped), (6, 7));
        }
    }
}
