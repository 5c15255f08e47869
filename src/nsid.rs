//! The identity of a network namespace that the kernel never repeats: the boot id plus
//! the namespace's cookie (`SO_NETNS_COOKIE`, Linux 5.14 and later: a 64-bit counter
//! the kernel never reuses within a boot). The nsfs device and inode are kept as well,
//! but only to find the namespace again cheaply: the kernel hands a freed namespace's
//! inode number to the next new one, so on their own they repeat.
//!
//! A kernel without the cookie can still identify PID 1's namespace: it lives as long
//! as the boot, so its inode is never handed to another. Any other namespace cannot be
//! identified there ([`NsIdError::NoCookie`]).

use serde::{Deserialize, Serialize};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// `SO_NETNS_COOKIE` (asm-generic/socket.h).
const SO_NETNS_COOKIE: libc::c_int = 71;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NetnsId {
    /// `kernel.random.boot_id` when the identity was taken.
    pub boot: String,
    /// The namespace cookie; `None` only for PID 1's namespace on a kernel without it.
    pub cookie: Option<u64>,
    /// nsfs `dev:ino`: finds candidates, never proves identity on its own.
    pub inode: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NsIdError {
    #[error("cannot identify the network namespace ({what}): {source}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "this kernel cannot tell network namespaces apart reliably (no SO_NETNS_COOKIE; Linux 5.14 and later have it), and this is not PID 1's namespace"
    )]
    NoCookie,
    #[error("network namespace {0:?} not found (no /run/netns/{0})")]
    Missing(String),
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> NsIdError {
    move |source| NsIdError::Io { what, source }
}

impl NetnsId {
    /// The namespace of the calling thread.
    pub fn of_thread() -> Result<NetnsId, NsIdError> {
        let boot = crate::sysctl::boot_id().map_err(io_err("reading the boot id"))?;
        let inode = inode_of(Path::new("/proc/thread-self/ns/net"))
            .map_err(io_err("reading /proc/thread-self/ns/net"))?;
        let cookie = cookie_of_thread().map_err(io_err("SO_NETNS_COOKIE"))?;
        if cookie.is_none() && inode_of(Path::new("/proc/1/ns/net")).ok().as_ref() != Some(&inode) {
            return Err(NsIdError::NoCookie);
        }
        Ok(NetnsId {
            boot,
            cookie,
            inode,
        })
    }

    /// The namespace called `netns` (`netns::run_named`), or the calling thread's own.
    pub fn of(netns: Option<&str>) -> Result<NetnsId, NsIdError> {
        crate::netns::run_named(netns, NetnsId::of_thread)
            .map_err(|e| match e {
                crate::netns::NetnsError::Missing(name) => NsIdError::Missing(name),
                e => entering(e),
            })
            .and_then(|r| r)
    }

    /// The namespace an nsfs file (`/run/netns/NAME`, `/proc/PID/ns/net`) refers to,
    /// read by entering it on a helper thread.
    pub fn of_path(path: &Path) -> Result<NetnsId, NsIdError> {
        crate::netns::run_in(path, NetnsId::of_thread)
            .map_err(entering)
            .and_then(|r| r)
    }

    /// A short name unique among this boot's namespaces, fit for a file name.
    pub fn key(&self) -> String {
        match self.cookie {
            Some(c) => format!("c{c:x}"),
            None => format!("i{}", self.inode.replace(':', "-")),
        }
    }

    /// How messages name it: `cookie 4097` (or `nsfs 4:4026531840`).
    pub fn describe(&self) -> String {
        match self.cookie {
            Some(c) => format!("cookie {c}"),
            None => format!("nsfs {}", self.inode),
        }
    }

    /// Whether this identity was taken during the running boot. One of an earlier boot
    /// names a namespace that is gone, whatever its numbers.
    pub fn of_this_boot(&self) -> bool {
        crate::sysctl::boot_id().is_ok_and(|b| b == self.boot)
    }
}

fn entering(e: crate::netns::NetnsError) -> NsIdError {
    NsIdError::Io {
        what: "entering the namespace",
        source: io::Error::other(e.to_string()),
    }
}

/// Whether the calling thread shares PID 1's network namespace. Both namespaces are
/// alive while they are compared, so their nsfs `dev:ino` identify them. An error names
/// the file that could not be read (no access to PID 1's, for one).
pub fn shares_init_netns() -> io::Result<bool> {
    let of = |p: &str| {
        inode_of(Path::new(p))
            .map_err(|e| io::Error::new(e.kind(), format!("cannot read {p}: {e}")))
    };
    Ok(of("/proc/thread-self/ns/net")? == of("/proc/1/ns/net")?)
}

/// `dev:ino` of an nsfs file (or of any file, which tests use as a stand-in).
pub fn inode_of(path: &Path) -> io::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok(format!("{}:{}", m.dev(), m.ino()))
}

/// The cookie of the calling thread's namespace (a socket belongs to the namespace of
/// the thread that creates it); `None` when the kernel does not know the option.
fn cookie_of_thread() -> io::Result<Option<u64>> {
    // SAFETY: socket() with constant arguments; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a new, valid descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: the option value points at a u64 on our stack and `len` is its size.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    if rc == 0 && len as usize == std::mem::size_of::<u64>() {
        return Ok(Some(cookie));
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENOPROTOOPT) => Ok(None),
        _ if rc == 0 => Err(io::Error::other("short SO_NETNS_COOKIE")),
        _ => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_identity_is_stable_and_has_this_boot() {
        let a = NetnsId::of_thread().expect("identity");
        assert_eq!(NetnsId::of(None).expect("identity"), a);
        assert!(a.of_this_boot());
        let earlier = NetnsId {
            boot: "00000000-0000-0000-0000-000000000000".into(),
            ..a.clone()
        };
        assert!(!earlier.of_this_boot());
        assert_ne!(
            earlier, a,
            "same numbers in another boot are another namespace"
        );
        assert!(
            a.key()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        );
    }

    #[test]
    fn bad_names_are_missing_namespaces() {
        for bad in ["", ".", "..", "a/b"] {
            assert!(matches!(NetnsId::of(Some(bad)), Err(NsIdError::Missing(_))));
        }
        assert!(matches!(
            NetnsId::of(Some("hw-no-such-namespace-at-all")),
            Err(NsIdError::Missing(_))
        ));
    }
}
