//! Waiting for a veth just set up to carry packets. The kernel activates a link's
//! queue from its link-watch work, which runs up to a second after `ip link set up` on a
//! busy machine; until then the link drops what it is given. A lab's first probe lost
//! there reads as a refused port (or, with a per-source limit, uses up a token).

use hostwall::netns::Netns;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Until a TCP connection from `from` to `to` is answered, accepted or refused (both
/// ends' queues are active then: the SYN went one way, the answer the other). Panics
/// after ten seconds. Call it before a policy that would leave `to` unanswered.
pub fn wait_answered(from: &Netns, to: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let answered = move || match TcpStream::connect_timeout(&to, Duration::from_millis(200)) {
        Ok(_) => true,
        Err(e) => e.kind() == ErrorKind::ConnectionRefused,
    };
    while !from.run(answered).unwrap_or(false) {
        assert!(
            Instant::now() < deadline,
            "{to} never answers from namespace {}: the link did not come up",
            from.name()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
