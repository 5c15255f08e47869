//! Network namespaces: creating, entering and removing them, and the veth
//! links, addresses, routes and sysctls `verify` builds inside them.
//!
//! A namespace is created the way `ip netns add` does it (a new net namespace
//! bind-mounted on `/run/netns/NAME`), so `ip netns list` and `ip -n NAME`
//! see it. [`Netns`] is a guard: dropping it removes the namespace, and every
//! live namespace is also registered so that an interrupted process can remove it
//! before it dies: the binary (or a test harness) installs that with
//! [`on_interrupt`], choosing what the process does afterwards.
//!
//! Code runs inside a namespace on a dedicated thread that `setns()`es and then
//! ends, so the caller's thread never changes namespace (under a [`Stay`], on the
//! calling thread, which enters for the call and is back in its own namespace before
//! anything else runs on it). Sockets keep the
//! namespace they were created in, so a socket made by [`Netns::run`] can be
//! used from any thread afterwards.
//!
//! Names made by [`Netns::create_unique`] carry their owner (pid and start
//! time), so namespaces left by a process killed with SIGKILL can be told
//! apart from a live run's and removed ([`reap_orphans`]).
//!
//! Links, addresses and routes are configured with iproute2's `ip -n NAME`
//! (verify's only external dependency besides `nft` for `--against`); the
//! namespace life cycle itself is native so its cleanup never depends on it.

mod enter;
mod interrupt;
mod owner;
mod ready;

pub use enter::{Stay, path, run_in, run_named, stay_in, unshare_thread};
pub use interrupt::on_interrupt;
pub use owner::{Owner, Reaped, reap_orphans};

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// Where named namespaces are bind-mounted (iproute2's convention).
pub const NETNS_DIR: &str = "/run/netns";

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("namespace name {0:?} is not a plain file name")]
    BadName(String),
    #[error("namespace {0} already exists")]
    Exists(String),
    #[error("namespace {name}: {what}: {source}")]
    Io {
        name: String,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("network namespace {0:?} does not exist (no {NETNS_DIR}/{0})")]
    Missing(String),
    #[error("namespace {name}: setns: {source}")]
    Enter {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("code running inside namespace {0} panicked")]
    Panicked(String),
    #[error("`ip {args}` failed: {stderr}")]
    Ip { args: String, stderr: String },
    #[error("namespace {name}: link(s) {links} not up {secs} s after being set up")]
    LinksDown {
        name: String,
        links: String,
        secs: u64,
    },
    #[error(
        "namespace {name}: {missing} of its IPv6 addresses (first {first}) not usable {secs} s after being added"
    )]
    AddrsNotLocal {
        name: String,
        missing: usize,
        first: String,
        secs: u64,
    },
    #[error("sysctl {key} in namespace {name}: {source}")]
    Sysctl {
        name: String,
        key: String,
        #[source]
        source: io::Error,
    },
}

/// Paths of the namespaces this process created and has not removed yet:
/// what the signal watcher removes when the process is interrupted.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A named network namespace owned by this process; removed on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    path: PathBuf,
    removed: bool,
}

impl Netns {
    /// Creates `/run/netns/NAME` holding a fresh network namespace with `lo` up.
    pub fn create(name: &str) -> Result<Netns, NetnsError> {
        let path = path(name).ok_or_else(|| NetnsError::BadName(name.to_string()))?;
        let io_err = |what| {
            move |source| NetnsError::Io {
                name: name.to_string(),
                what,
                source,
            }
        };
        fs::create_dir_all(NETNS_DIR).map_err(io_err("creating the namespace directory"))?;
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(NetnsError::Exists(name.to_string()));
            }
            Err(e) => return Err(io_err("creating the mount point")(e)),
        }
        // Registered before the mount so an interrupt during setup still cleans up.
        lock_live().push(path.clone());
        let ns = Netns {
            name: name.to_string(),
            path,
            removed: false,
        };
        let target = ns.path.clone();
        let made = std::thread::spawn(move || unshare_and_bind(&target))
            .join()
            .map_err(|_| NetnsError::Panicked(name.to_string()))?;
        made.map_err(io_err("unshare and bind mount"))?;
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Creates a namespace named `PREFIX-<pid>-<start time>-<random>`, unique
    /// on this host and naming its owner (see [`reap_orphans`]).
    pub fn create_unique(prefix: &str) -> Result<Netns, NetnsError> {
        let mut last = None;
        let owner = Owner::current().tag();
        for _ in 0..8 {
            let name = format!("{prefix}-{owner}-{:06x}", random_u32() & 0xff_ffff);
            match Netns::create(&name) {
                Err(e @ NetnsError::Exists(_)) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| NetnsError::Exists(prefix.to_string())))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a new thread that has entered this namespace; returns its result.
    pub fn run<T, F>(&self, f: F) -> Result<T, NetnsError>
    where
        T: Send,
        F: FnOnce() -> T + Send,
    {
        run_in(&self.path, f)
    }

    /// Runs `ip -n NAME ARGS...`.
    pub fn ip(&self, args: &[&str]) -> Result<(), NetnsError> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// Runs `ip -n NAME -batch -` with one command per line (one process for many changes).
    pub fn ip_batch<S: AsRef<str>>(&self, cmds: &[S]) -> Result<(), NetnsError> {
        let script: String = cmds.iter().map(|c| format!("{}\n", c.as_ref())).collect();
        let args = ["-n", self.name.as_str(), "-batch", "-"];
        run_ip(&args, Some(script.as_bytes()))
    }

    /// Writes `/proc/sys/KEY` (dotted form, `net.ipv4.ip_forward`) inside this namespace.
    /// Only for namespaces this process created; the host's sysctls belong to `sysctl`.
    pub fn write_sysctl(&self, key: &str, value: &str) -> Result<(), NetnsError> {
        self.run(|| crate::sysctl::write_key(key, value))?
            .map_err(|source| self.sysctl_err(key, source))
    }

    /// Reads `/proc/sys/KEY` inside this namespace, trimmed.
    pub fn read_sysctl(&self, key: &str) -> Result<String, NetnsError> {
        self.run(|| crate::sysctl::read_key(key))?
            .map_err(|source| self.sysctl_err(key, source))
    }

    fn sysctl_err(&self, key: &str, source: io::Error) -> NetnsError {
        NetnsError::Sysctl {
            name: self.name.clone(),
            key: key.to_string(),
            source,
        }
    }

    /// Removes the namespace now (dropping does the same, ignoring errors).
    pub fn remove(mut self) -> Result<(), NetnsError> {
        self.removed = true;
        remove_path(&self.path).map_err(|source| NetnsError::Io {
            name: self.name.clone(),
            what: "removing",
            source,
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.removed {
            // Nothing useful to do with an error while unwinding; `remove` reports it.
            let _ = remove_path(&self.path);
        }
    }
}

/// Runs the `ip` program (iproute2) with `args`.
pub fn ip(args: &[&str]) -> Result<(), NetnsError> {
    run_ip(args, None)
}

/// Runs `ip ARGS` (stdin fed when given); its stderr becomes the error.
pub(crate) fn run_ip(args: &[&str], stdin: Option<&[u8]>) -> Result<(), NetnsError> {
    run_ip_out(args, stdin).map(drop)
}

/// [`run_ip`], returning what `ip` printed.
fn run_ip_out(args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, NetnsError> {
    let fail = |stderr: String| NetnsError::Ip {
        args: args.join(" "),
        stderr,
    };
    let mut child = Command::new("ip")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// Names of the namespaces under /run/netns (what `ip netns list` shows).
pub fn list() -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    match fs::read_dir(NETNS_DIR) {
        Ok(dir) => {
            for entry in dir {
                names.push(entry?.file_name().to_string_lossy().into_owned());
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    names.sort();
    Ok(names)
}

fn lock_live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A panic while holding the lock cannot leave the list inconsistent (push/retain only).
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// On a fresh thread: new net namespace, bind-mounted on `target`.
fn unshare_and_bind(target: &Path) -> io::Result<()> {
    unshare_thread()?;
    let src = c"/proc/thread-self/ns/net";
    let dst = CString::new(target.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let none = c"none";
    // SAFETY: one mount(2) on this short-lived thread; the pointers are valid C strings.
    unsafe {
        if libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            none.as_ptr(),
            libc::MS_BIND,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Unmounts and deletes a namespace mount point; unregisters it.
fn remove_path(path: &Path) -> io::Result<()> {
    lock_live().retain(|p| p != path);
    detach_and_unlink(path)
}

/// The part of removal that is safe to run from the signal watcher.
fn detach_and_unlink(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: valid C string; MNT_DETACH never blocks on busy users (open sockets
    // keep the namespace alive until they close, which is what we want).
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    let umount_err = (rc != 0).then(io::Error::last_os_error);
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => umount_err.map_or(Ok(()), Err),
        Err(e) => Err(umount_err.unwrap_or(e)),
    }
}

fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    // SAFETY: buf is valid for 4 bytes.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n == 4 {
        u32::from_ne_bytes(buf)
    } else {
        // getrandom cannot fail for 4 bytes after boot; the time is a fine fallback.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    }
}

/// Removes every namespace this process created and has not removed yet (what an
/// interrupted process must undo before it dies); returns the paths it removed.
/// Errors are ignored: the process is going away and nothing can report them.
pub fn remove_registered() -> Vec<PathBuf> {
    let paths: Vec<PathBuf> = lock_live().drain(..).collect();
    for p in &paths {
        let _ = detach_and_unlink(p);
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests that create namespaces take turns: one of them removes every
    /// namespace the process holds.
    static SERIAL: Mutex<()> = Mutex::new(());

    pub(super) fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[test]
    #[ignore = "needs root"]
    fn create_enter_remove() {
        let _turn = serial();
        let ns = Netns::create_unique("hw-t").expect("create");
        let name = ns.name().to_string();
        assert!(list().expect("list").contains(&name));
        // The namespace is really different from ours: its inode differs.
        let ours = fs::metadata("/proc/self/ns/net").expect("stat");
        let theirs = ns
            .run(|| fs::metadata("/proc/thread-self/ns/net").map(|m| m.ino()))
            .expect("run")
            .expect("stat");
        use std::os::unix::fs::MetadataExt;
        assert_ne!(ours.ino(), theirs);
        ns.write_sysctl("net.ipv4.ip_forward", "1").expect("write");
        assert_eq!(ns.read_sysctl("net.ipv4.ip_forward").expect("read"), "1");
        ns.remove().expect("remove");
        assert!(!list().expect("list").contains(&name));
        assert!(!lock_live().iter().any(|p| p.ends_with(&name)));
    }

    /// A [`Stay`] runs every entry of its namespace on the calling thread, in that
    /// namespace, and the thread is back in its own namespace after each (a panic too,
    /// which is an error); an entry from inside runs in place; entries of two threads
    /// run side by side; a namespace made anew under the same name is entered anew;
    /// after the guard, each entry has a thread of its own again.
    #[test]
    #[ignore = "needs root"]
    fn a_stay_runs_each_entry_on_the_calling_thread_in_that_very_namespace() {
        use std::os::unix::fs::MetadataExt;
        let _turn = serial();
        let ns = Netns::create_unique("hw-t").expect("create");
        let name = ns.name().to_string();
        let ns_ino = fs::metadata(ns.path()).expect("stat").ino();
        let here = || {
            let ino = fs::metadata("/proc/thread-self/ns/net")
                .map(|m| m.ino())
                .ok();
            (std::thread::current().id(), ino)
        };
        let (me, home) = here();
        let stay = stay_in(&name).expect("stay");
        let (t1, i1) = run_named(Some(&name), here).expect("run");
        let (t2, i2) = run_named(Some(&name), here).expect("run");
        assert_eq!((t1, t2, i1, i2), (me, me, Some(ns_ino), Some(ns_ino)));
        assert_eq!(here(), (me, home), "back in its own namespace");
        // A signal for the process meets the mask of the thread that runs the command
        // inside an entry too: a critical section's deferral holds there.
        let mask = || {
            let status = fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
            (status.lines())
                .find_map(|l| l.strip_prefix("SigBlk:"))
                .map(|m| m.trim().to_string())
        };
        let deferred = crate::safe::signals::Deferred::new();
        let (outside, inside) = (mask(), run_named(Some(&name), mask).expect("run"));
        drop(deferred);
        let bits = u64::from_str_radix(inside.as_deref().expect("SigBlk"), 16).expect("hex");
        let term = 1u64 << (libc::SIGTERM - 1) | 1u64 << (libc::SIGHUP - 1);
        assert_eq!(
            (inside, bits & term),
            (outside, term),
            "the entry's mask is the caller's"
        );
        let nested = run_named(Some(&name), || run_named(Some(&name), here)).expect("run");
        assert_eq!(
            nested.expect("nested"),
            (me, Some(ns_ino)),
            "an entry from inside runs in place"
        );
        let borrowed = String::from("on the caller's stack");
        let len = run_named(Some(&name), || borrowed.len()).expect("run");
        assert_eq!(len, borrowed.len());
        // While a closure waits inside on one thread, another thread's entry runs.
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|s| {
            let blocked = s.spawn(|| {
                let r = run_named(Some(&name), move || {
                    let _ = started_tx.send(());
                    let _ = wait.recv();
                    here()
                });
                (r, here())
            });
            started.recv().expect("the first entry runs");
            let (beside, ino) = run_named(Some(&name), here).expect("run beside");
            assert_eq!((beside, ino), (me, Some(ns_ino)));
            release.send(()).expect("release");
            let (inside, after) = blocked.join().expect("join");
            let (t, ino) = inside.expect("run");
            assert_eq!((t, ino), (after.0, Some(ns_ino)));
            assert_eq!(after.1, home, "that thread is back in its own namespace");
        });
        let panicked = run_named(Some(&name), || panic!("inside"));
        assert!(
            matches!(panicked, Err(NetnsError::Panicked(_))),
            "{panicked:?}"
        );
        assert_eq!(here(), (me, home), "back after a panic");
        assert_eq!(
            run_named(Some(&name), here).expect("run"),
            (me, Some(ns_ino))
        );
        // The name now mounts another namespace: not the one held.
        ns.remove().expect("remove");
        let again = Netns::create(&name).expect("create again");
        let again_ino = fs::metadata(again.path()).expect("stat").ino();
        assert_ne!(again_ino, ns_ino, "the stay keeps the first one alive");
        let (t3, i3) = run_named(Some(&name), here).expect("run");
        assert_ne!(t3, me);
        assert_eq!(i3, Some(again_ino));
        drop(again);
        drop(stay);
        let other = Netns::create_unique("hw-t").expect("create");
        let (a, _) = other.run(here).expect("run");
        let (b, _) = other.run(here).expect("run");
        assert_ne!(a, b, "without a stay each entry has its own thread");
        assert_ne!(a, me);
    }

    #[test]
    #[ignore = "needs root"]
    fn dropped_guard_removes_even_on_panic() {
        let _turn = serial();
        let name = std::sync::Mutex::new(String::new());
        let r = std::panic::catch_unwind(|| {
            let ns = Netns::create_unique("hw-t").expect("create");
            *name.lock().unwrap_or_else(|p| p.into_inner()) = ns.name().to_string();
            panic!("probe failed");
        });
        assert!(r.is_err());
        let name = name.into_inner().unwrap_or_else(|p| p.into_inner());
        assert!(!name.is_empty());
        assert!(!list().expect("list").contains(&name));
    }

    #[test]
    #[ignore = "needs root"]
    fn an_interrupted_process_removes_what_it_still_holds() {
        let _turn = serial();
        let ns = Netns::create_unique("hw-t").expect("create");
        let path = ns.path().to_path_buf();
        assert!(remove_registered().contains(&path));
        assert!(!list().expect("list").contains(&ns.name().to_string()));
        assert!(!remove_registered().contains(&path), "removed once");
        drop(ns); // the guard finds nothing left to remove
        assert!(!path.exists());
    }

    #[test]
    fn rejects_path_names() {
        assert!(matches!(Netns::create("a/b"), Err(NetnsError::BadName(_))));
        assert!(matches!(Netns::create(".."), Err(NetnsError::BadName(_))));
    }
}
