//! Helper threads for the short parallel steps (a file parsed beside another, sets
//! written beside the rest of a batch, the table record decoded beside the parse). Each
//! runs off the CPU of the thread that started it when the process may use another: a
//! new thread can start on its starter's CPU and share it until the scheduler moves one
//! of them, which takes longer than such a step lasts (on a 2-CPU VM a 1.5 ms helper
//! made the parse beside it 0.5 ms slower on average; a pure spin, the same). Every
//! helper is moved by its starter before it runs: [`spawn`] for one that may outlive
//! its starter's borrows, [`beside`] for helpers that borrow and end with a step of
//! their starter's. Once running, a helper may use any CPU its starter may, and
//! [`join`] frees one that has not run yet before waiting for it: the CPU it was moved
//! to may since have been taken by kernel work.

/// Starts `f` on a thread of its own, as `std::thread::Builder::spawn` does, off the
/// starter's CPU. The starter moves it, right after making it: a new thread first runs
/// on its starter's CPU, and moving itself would wait until it could take that CPU from
/// the starter (in a probe, about one start in four waited 2-3 ms; a helper beside an
/// apply's batch, 1.6 ms: it first ran when the apply waited for it). The thread waits
/// for the move before it runs `f`: once a thread has ended, its handle names no thread
/// (glibc finds its id cleared) and the move would apply to the starter itself, which
/// then left its CPU and waited 1-4 ms for another. A new thread often runs first, while
/// its starter waits, and a short `f` (a small table record decoded) could end in that
/// time.
pub fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    // SAFETY: `f` and `T` are 'static: the thread may outlive anything.
    unsafe { spawn_moved(name, f) }
}

/// Runs each of `helpers` on a thread of its own, moved off this thread's CPU as
/// [`spawn`] moves one, while this thread runs `here`; returns what `here` returned and
/// what each helper that started returned (`Err`: it panicked; a helper whose thread
/// could not start did not run). Helpers may borrow what this call's caller holds: every
/// one has ended when this returns, and when `here` panics, before the panic goes on.
pub fn beside<'a, A, B, F>(
    name: &str,
    helpers: impl IntoIterator<Item = F>,
    here: impl FnOnce() -> B,
) -> (B, Vec<std::thread::Result<A>>)
where
    A: Send + 'a,
    F: FnOnce() -> A + Send + 'a,
{
    let mut started = Joined(Vec::new());
    for f in helpers {
        // SAFETY: the thread is joined before this function returns or unwinds:
        // `started` joins whatever it still holds when dropped, so nothing `f` borrows
        // (for 'a, which outlives this call) goes before the thread ends.
        if let Ok(h) = unsafe { spawn_moved(name, f) } {
            started.0.push(h);
        }
    }
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(here));
    let done = std::mem::take(&mut started.0)
        .into_iter()
        .map(join)
        .collect();
    match ran {
        Ok(b) => (b, done),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Waits for a helper to end, as `JoinHandle::join` does, first letting it run on any
/// CPU this thread may: a helper moved to a CPU that kernel work then took (the previous
/// apply's table freed there, 20-30 ms) may not have run yet, and it is free only once
/// it runs; this thread, about to wait, leaves its own CPU idle for it.
pub fn join<T>(h: std::thread::JoinHandle<T>) -> std::thread::Result<T> {
    use std::os::unix::thread::JoinHandleExt;
    if !h.is_finished() {
        // SAFETY: the set is a plain bit array owned here, written by the kernel within
        // its size; the thread is not joined, so its pthread_t is valid. Should it end
        // meanwhile, glibc finds its id cleared and the call falls on this thread, which
        // it gives the set it already has.
        unsafe {
            let mut all: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, size_of_val(&all), &mut all) == 0 {
                libc::pthread_setaffinity_np(h.as_pthread_t(), size_of_val(&all), &all);
            }
        }
    }
    h.join()
}

/// Threads [`beside`] started, joined when dropped (on an unwind out of it).
struct Joined<A>(Vec<std::thread::JoinHandle<A>>);

impl<A> Drop for Joined<A> {
    fn drop(&mut self) {
        for h in self.0.drain(..) {
            let _ = h.join();
        }
    }
}

/// [`spawn`] of an `f` that may borrow.
///
/// # Safety
/// The caller joins the thread before anything `f` borrows or `T` holds ('a) ends.
unsafe fn spawn_moved<'a, T: Send + 'a>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'a,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    use std::os::unix::thread::JoinHandleExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    let builder = std::thread::Builder::new().name(name.into());
    let cpu = this_cpu();
    let Some((all, set)) = cpu.and_then(others) else {
        // SAFETY: the caller's promise covers the thread.
        return unsafe { builder.spawn_unchecked(f) };
    };
    let moved = std::sync::Arc::new(AtomicBool::new(false));
    let go = moved.clone();
    // SAFETY: the caller's promise covers the thread.
    let handle = unsafe {
        builder.spawn_unchecked(move || {
            while !go.load(Ordering::Acquire) {
                std::thread::park();
            }
            #[cfg(test)]
            tests::STARTED_ON.set(cpu.zip(this_cpu()));
            // Running elsewhere now, it may go anywhere its starter may: when kernel
            // work takes the CPU it was moved to (a replaced table freed there took 30
            // ms), the scheduler can move it to one left idle, such as its starter's
            // while the starter waits for it.
            // SAFETY: the kernel reads the set, owned here, within its size, for this
            // thread (0).
            libc::sched_setaffinity(0, size_of_val(&all), &all);
            f()
        })?
    };
    // SAFETY: the thread waits for `moved` above, so it has not ended and its pthread_t
    // names it; the kernel reads the set, owned here, within its size.
    unsafe {
        libc::pthread_setaffinity_np(handle.as_pthread_t(), size_of_val(&set), &set);
    }
    moved.store(true, Ordering::Release);
    handle.thread().unpark();
    Ok(handle)
}

/// The CPU this thread runs on now, if the kernel says.
fn this_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu takes nothing and returns a number or -1.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok()
}

/// The CPUs this thread may use, and those of them other than `cpu`; `None` when there
/// are no others (or the kernel does not say).
fn others(cpu: usize) -> Option<(libc::cpu_set_t, libc::cpu_set_t)> {
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
        let all = set;
        libc::CPU_CLR(cpu, &mut set);
        (libc::CPU_COUNT(&set) > 0).then_some((all, set))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// The CPU a helper was moved off, and the one it first ran on.
        pub(super) static STARTED_ON: std::cell::Cell<Option<(usize, usize)>> =
            const { std::cell::Cell::new(None) };
    }

    /// The CPU this helper thread was moved off and the one it first ran on (`None` on
    /// any other thread, or when it was not moved).
    fn started_on() -> Option<(usize, usize)> {
        STARTED_ON.get()
    }

    /// Limits this thread to the CPUs it may use other than `cpu`, when there are any.
    fn move_off(cpu: Option<usize>) {
        if let Some((_, set)) = cpu.and_then(others) {
            // SAFETY: the kernel reads the set, owned here, within its size, for this
            // thread (0).
            unsafe {
                libc::sched_setaffinity(0, size_of_val(&set), &set);
            }
        }
    }

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
        let listed = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("Cpus_allowed_list:"))?;
                Some(line.split(':').nth(1)?.trim().to_string())
            })
            .unwrap_or_default();
        let several = listed.contains(',') || listed.contains('-');
        for _ in 0..20 {
            let from = this_cpu().expect("sched_getcpu");
            let on = std::thread::spawn(move || {
                move_off(Some(from));
                this_cpu()
            })
            .join()
            .expect("join");
            match several {
                true => assert_ne!(on, Some(from), "allowed: {listed}"),
                false => assert_eq!(on, Some(from), "allowed: {listed}"),
            }
            // Moved by its starter: it first runs elsewhere, and may then run on any CPU
            // its starter may.
            let (go, wait) = std::sync::mpsc::channel::<()>();
            let mine = allowed();
            let moved = spawn("probe", move || {
                wait.recv().map(|()| (started_on(), allowed()))
            })
            .expect("spawn");
            go.send(()).expect("send");
            let (first, may) = moved.join().expect("join").expect("recv");
            assert_eq!(may, mine, "free once running");
            match several {
                true => assert!(
                    first.is_some_and(|(off, on)| off != on),
                    "{first:?} {listed}"
                ),
                false => assert_eq!(first, None, "not moved: {listed}"),
            }
            // Beside a step of the starter's: already elsewhere when it first runs.
            // The step waits for the helper to run: a helper not yet run when it is
            // joined may run anywhere (`join`), its starter's CPU included.
            let (ran, running) = std::sync::mpsc::channel::<()>();
            let helper = move || {
                let _ = ran.send(());
                started_on()
            };
            let (here, helpers) = beside("probe", [helper], || {
                running.recv().expect("ran");
                (7, started_on())
            });
            let on: Vec<_> = helpers.into_iter().map(|r| r.expect("join")).collect();
            assert_eq!((here, on.len()), ((7, None), 1));
            match several {
                true => assert!(on[0].is_some_and(|(off, on)| off != on), "{on:?} {listed}"),
                false => assert_eq!(on[0], None, "not moved: {listed}"),
            }
        }
    }

    /// Helpers borrow their starter's data, give back their results in order, and have
    /// all ended when `beside` returns, or unwinds from a panic of the starter's step.
    #[test]
    fn helpers_beside_borrow_and_end_with_the_step() {
        let words = ["a".to_string(), "bb".into(), "ccc".into()];
        let (total, lens) = beside("probe", words.iter().map(|w| move || w.len()), || {
            words.len()
        });
        let lens: Vec<usize> = lens.into_iter().map(|r| r.expect("join")).collect();
        assert_eq!((total, lens), (3, vec![1, 2, 3]));

        let ended = std::sync::atomic::AtomicUsize::new(0);
        let slow = || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        };
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            beside("probe", [slow, slow], || panic!("the step fails"))
        }));
        assert!(unwound.is_err(), "the step's panic goes on");
        assert_eq!(
            ended.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "helpers joined first"
        );

        let (_, failed) = beside("probe", [|| panic!("a helper fails")], || ());
        assert!(failed[0].is_err(), "a helper's panic is its result");
    }
}
