//! The TCP ports sshd really listens on: `sshd -T` when an sshd is on the PATH, else
//! the listening sockets that belong to an sshd process (/proc/net/tcp{,6} and
//! /proc/PID/fd under the system root).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `sshd -T` may take before it is killed and the sockets are read instead.
const SSHD_T_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest `sshd -T` output read (its full configuration is a few KiB).
const OUTPUT_LIMIT: u64 = 1 << 20;

/// Where the ports came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `sshd -T` of this program.
    Config(PathBuf),
    /// Listening sockets of sshd processes.
    Sockets,
    /// No sshd found: port 22 assumed.
    NotFound,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ports {
    /// Sorted, without duplicates, never empty.
    pub ports: Vec<u16>,
    pub source: Source,
}

/// sshd's ports: from `sshd -T` (found on `path_var`), else from the sockets under
/// `root`, else 22.
pub fn find(path_var: Option<&std::ffi::OsStr>, root: &Path) -> Ports {
    if let Some(sshd) = path_var.and_then(|p| on_path(p, "sshd")) {
        if let Some(ports) = sshd_t(&sshd).filter(|p| !p.is_empty()) {
            return Ports {
                ports,
                source: Source::Config(sshd),
            };
        }
    }
    let ports = listening(root);
    if ports.is_empty() {
        return Ports {
            ports: vec![22],
            source: Source::NotFound,
        };
    }
    Ports {
        ports,
        source: Source::Sockets,
    }
}

/// The first executable file named `name` in a PATH value.
fn on_path(path_var: &std::ffi::OsStr, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path_var)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `sshd -T`'s `port` lines; `None` when it fails, hangs or prints none.
fn sshd_t(sshd: &Path) -> Option<Vec<u16>> {
    let mut child = Command::new(sshd)
        .arg("-T")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut out = Vec::new();
    let stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout.take(OUTPUT_LIMIT).read_to_end(&mut buf).map(|_| buf)
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() < SSHD_T_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    if let Ok(Ok(buf)) = reader.join() {
        out = buf;
    }
    if !status?.success() {
        return None;
    }
    Some(config_ports(&String::from_utf8_lossy(&out)))
}

/// The `port N` lines of `sshd -T` output, sorted and unique.
pub fn config_ports(text: &str) -> Vec<u16> {
    let mut ports: Vec<u16> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "port").then_some(())?;
            w.next()?.parse().ok()
        })
        .filter(|p| *p != 0)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// Ports of listening TCP sockets owned by a process whose command name is `sshd`.
fn listening(root: &Path) -> Vec<u16> {
    let mut by_inode: Vec<(u64, u16)> = Vec::new();
    for f in ["proc/net/tcp", "proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(root.join(f)) {
            by_inode.extend(listeners(&text));
        }
    }
    if by_inode.is_empty() {
        return Vec::new();
    }
    let inodes = sshd_socket_inodes(root);
    let mut ports: Vec<u16> = by_inode
        .into_iter()
        .filter(|(inode, _)| inodes.contains(inode))
        .map(|(_, port)| port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// (inode, local port) of every socket in LISTEN state (`st` 0A) of a /proc/net/tcp table.
pub fn listeners(text: &str) -> Vec<(u64, u16)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.get(3) != Some(&"0A") {
                return None;
            }
            let port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            let inode = f.get(9)?.parse().ok()?;
            Some((inode, port))
        })
        .collect()
}

/// The socket inodes open in processes named `sshd`.
fn sshd_socket_inodes(root: &Path) -> Vec<u64> {
    let Ok(procs) = std::fs::read_dir(root.join("proc")) else {
        return Vec::new();
    };
    let mut inodes = Vec::new();
    for p in procs.flatten() {
        let numeric = p
            .file_name()
            .to_str()
            .is_some_and(|n| n.parse::<u32>().is_ok());
        let comm = std::fs::read(p.path().join("comm")).unwrap_or_default();
        if !numeric || comm.strip_suffix(b"\n").unwrap_or(&comm) != b"sshd" {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        inodes.extend(fds.flatten().filter_map(|fd| {
            let target = std::fs::read_link(fd.path()).ok()?;
            let t = target.to_str()?;
            t.strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse::<u64>()
                .ok()
        }));
    }
    inodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lines_and_listen_rows_are_read_and_nothing_else() {
        let t = "port 2222\nport 22\nlistenaddress 0.0.0.0:2222\nportx 9\nport 2222\nport\n";
        assert_eq!(config_ports(t), vec![22, 2222]);
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:08AE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4567 1 0\n   1: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1 0\n   2: 0100007F:9C40 0100007F:0016 01 00000000:00000000 00:00000000 00000000     0        0 7 1 0\n";
        assert_eq!(listeners(tcp), vec![(4567, 2222), (99, 631)]);
    }
}
