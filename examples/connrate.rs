//! Connection-rate benchmark driver for `benches/connrate.sh`: applies the
//! generated N-service policy (or prints N linear nft rules), serves a TCP
//! port, and opens+closes new connections to it for a fixed time.
//!
//! ```text
//! connrate policy N                    apply hostwall's N-service policy here; print its last port
//! connrate linear N                    print N linear `tcp dport P accept` rules (nft -f text)
//! connrate serve ADDR:PORT SECS        accept and close connections for SECS seconds
//! connrate connect ADDR:PORT SECS [T]  T threads open+close connections; print conns/s
//! ```
//!
//! Every loop is bounded by time; the script runs each mode in its own namespace.

use hostwall::apply::{ApplyOptions, apply};
use hostwall::check::{NoIncludes, check};
use hostwall::compile::compile;
use hostwall::source::SourceMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Ports of the generated policy: service i listens on 10000 + 2i.
fn port(i: usize) -> usize {
    10_000 + 2 * i
}

fn policy(n: usize) -> Result<String, String> {
    let mut map = SourceMap::new();
    let f = map.add("connrate.policy", hostwall::bench_support::policy(0, n));
    let (p, diags) = check(&mut map, f, None, &NoIncludes);
    let p = p.ok_or_else(|| format!("policy does not check: {diags:?}"))?;
    let rs = compile(&p);
    let sets: Vec<String> = rs
        .table
        .sets
        .iter()
        .map(|s| format!("{}({} intervals)", s.name, s.elements.len()))
        .collect();
    let r = apply(&rs, &ApplyOptions::default()).map_err(|e| e.to_string())?;
    Ok(format!(
        "last_port={} sets={} apply_ms={:.1}",
        port(n - 1),
        sets.join(","),
        (r.build_time + r.send_ack_time).as_secs_f64() * 1e3
    ))
}

fn linear(n: usize) -> String {
    let mut s = String::from(
        "table inet linear {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n",
    );
    for i in 0..n {
        s.push_str(&format!("\t\ttcp dport {} accept\n", port(i)));
    }
    s.push_str("\t}\n}\n");
    s
}

/// Accepts and drops connections (the server closes first, so TIME_WAIT stays
/// on this side and the client's ports are free again at once).
fn serve(addr: SocketAddr, secs: u64) -> Result<String, String> {
    let l = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    let end = Instant::now() + Duration::from_secs(secs);
    let mut n = 0u64;
    while Instant::now() < end {
        match l.accept() {
            Ok((s, _)) => {
                drop(s);
                n += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_micros(50));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
    Ok(format!("accepted={n}"))
}

/// One connection: connect, wait for the server's FIN, close.
fn one(addr: &SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0))
}

fn connect(addr: SocketAddr, secs: f64, threads: usize) -> String {
    let ok = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let c = if one(&addr) { &ok } else { &failed };
                    c.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
    });
    let el = t0.elapsed().as_secs_f64();
    format!(
        "rate={:.0} ok={} failed={} secs={el:.2}",
        ok.load(Ordering::Relaxed) as f64 / el,
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    )
}

fn run(args: &[String]) -> Result<String, String> {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let num = |i: usize| {
        arg(i)
            .parse::<f64>()
            .map_err(|_| format!("bad number {:?}", arg(i)))
    };
    let addr = || {
        arg(1)
            .parse::<SocketAddr>()
            .map_err(|e| format!("{:?}: {e}", arg(1)))
    };
    match arg(0) {
        "policy" => policy((num(1)? as usize).max(1)),
        "linear" => Ok(linear(num(1)? as usize)),
        "serve" => serve(addr()?, num(2)? as u64),
        "connect" => Ok(connect(
            addr()?,
            num(2)?,
            num(3).map_or(1, |t| (t as usize).clamp(1, 64)),
        )),
        _ => Err("usage: connrate policy N | linear N | serve ADDR:PORT SECS | connect ADDR:PORT SECS [THREADS]".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(out) => {
            println!("{}", out.trim_end());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("connrate: {e}");
            ExitCode::from(2)
        }
    }
}
