//! Waiting until what a lab set up in a namespace carries packets: a veth's two ends
//! (up once the kernel's link watch has seen their carrier) and IPv6 addresses (usable
//! once the kernel's address work has routed them). Both happen after the `ip` command
//! that asked for them returns, up to a second later on a busy machine, and until then
//! packets are dropped: a probe sent sooner reads as a closed port or a timeout.

use super::{Netns, NetnsError, run_ip_out};
use std::collections::HashSet;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

impl Netns {
    /// Waits until each of `links` (veths, whose carrier the kernel tracks) in this
    /// namespace is up. A veth gets its carrier once both ends are set up, but starts
    /// sending only when the kernel's link-watch work has seen that carrier, up to a second
    /// later on a busy machine; until then it drops whatever it is sent. That work marks
    /// the link's operational state up together with starting it (`state UP` in `ip
    /// link`). Errs after `within`, naming the links still not up.
    pub fn wait_links_up(&self, links: &[&str], within: Duration) -> Result<(), NetnsError> {
        let waiting = self.poll(&["-o", "link", "show"], within, |l| links_not_up(l, links))?;
        if waiting.is_empty() {
            return Ok(());
        }
        Err(NetnsError::LinksDown {
            name: self.name.clone(),
            links: waiting.join(", "),
            secs: within.as_secs(),
        })
    }

    /// Waits until each of `addrs` is a local address of this namespace (its route in the
    /// `local` table). The kernel makes an IPv6 address usable from a work item queued when
    /// it is added, even without duplicate address detection, and that work waits for the
    /// routing lock another namespace's teardown can hold; until then packets to the
    /// address are dropped. Errs after `within`, saying how many are still missing.
    pub fn wait_local_v6(&self, addrs: &[Ipv6Addr], within: Duration) -> Result<(), NetnsError> {
        let args = ["-6", "-o", "route", "show", "table", "local"];
        let missing = self.poll(&args, within, |l| not_local(l, addrs))?;
        let Some(first) = missing.first() else {
            return Ok(());
        };
        Err(NetnsError::AddrsNotLocal {
            name: self.name.clone(),
            missing: missing.len(),
            first: first.to_string(),
            secs: within.as_secs(),
        })
    }

    /// Runs `ip ARGS` in this namespace every 10 ms until `missing` finds nothing missing
    /// in what it prints, or `within` has passed: what is still missing then (nothing is
    /// run when nothing is awaited).
    fn poll<T>(
        &self,
        args: &[&str],
        within: Duration,
        missing: impl Fn(&str) -> Vec<T>,
    ) -> Result<Vec<T>, NetnsError> {
        if missing("").is_empty() {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + within;
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        loop {
            let listing = run_ip_out(&full, None)?;
            let left = missing(&String::from_utf8_lossy(&listing));
            if left.is_empty() || Instant::now() >= deadline {
                return Ok(left);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Of `links`, those an `ip -o link show` listing shows in an operational state other
/// than up, or does not show.
fn links_not_up<'a>(listing: &str, links: &[&'a str]) -> Vec<&'a str> {
    let ready = |link: &str| {
        listing.lines().any(|line| {
            // `3: name@peer: <FLAGS> mtu 1500 qdisc noqueue state UP mode ...`
            let name = line.split_whitespace().nth(1).unwrap_or("");
            let name = name.trim_end_matches(':').split('@').next().unwrap_or("");
            name == link && line.contains(" state UP ")
        })
    };
    links.iter().copied().filter(|l| !ready(l)).collect()
}

/// Of `addrs`, those an `ip -6 -o route show table local` listing has no `local` route for.
fn not_local(listing: &str, addrs: &[Ipv6Addr]) -> Vec<Ipv6Addr> {
    let local: HashSet<Ipv6Addr> = (listing.lines())
        .filter_map(|line| line.strip_prefix("local ")?.split_whitespace().next())
        .filter_map(|a| a.parse().ok())
        .collect();
    addrs
        .iter()
        .copied()
        .filter(|a| !local.contains(a))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_ready_once_listed_in_state_up() {
        let listing = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT\\    link/loopback 00:00\n\
            2: hwa@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state LOWERLAYERDOWN mode DEFAULT\\    link/ether 1a:2b\n\
            4: hwb@if5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT\\    link/ether 1a:2c\n\
            6: hwc: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN mode DEFAULT\\    link/ether 1a:2d\n";
        let links = ["hwa", "hwb", "hwc", "hwd", "hw", "lo"];
        assert_eq!(
            links_not_up(listing, &links),
            ["hwa", "hwc", "hwd", "hw", "lo"]
        );
    }

    #[test]
    #[ignore = "needs root"]
    fn waiting_for_links_ends_when_both_ends_are_up_and_names_one_that_is_not() {
        let _turn = super::super::tests::serial();
        let ns = Netns::create_unique("hw-t-up").expect("create");
        ns.ip(&[
            "link", "add", "hwu0", "type", "veth", "peer", "name", "hwu1",
        ])
        .expect("veth");
        // One end up, its peer down: no carrier, so the link is never up.
        ns.ip(&["link", "set", "hwu0", "up"]).expect("up");
        let err = ns
            .wait_links_up(&["hwu0"], Duration::from_millis(300))
            .expect_err("a veth whose peer is down is not up");
        assert!(err.to_string().contains("link(s) hwu0 not up"), "{err}");
        ns.ip(&["link", "set", "hwu1", "up"]).expect("peer up");
        ns.wait_links_up(&["hwu0", "hwu1"], Duration::from_secs(10))
            .expect("both ends up");
        ns.remove().expect("remove");
    }

    #[test]
    fn an_address_is_usable_once_the_local_table_routes_it() {
        let listing = "local fd00:1::1 dev hwa proto kernel metric 0 pref medium\n\
            local fe80::1 dev hwa proto kernel metric 0 pref medium\n\
            multicast ff00::/8 dev hwa proto kernel metric 256 pref medium\n";
        let a = |s: &str| s.parse::<Ipv6Addr>().expect("address");
        let addrs = [a("fd00:1::1"), a("fd00:1::2"), a("ff00::")];
        assert_eq!(not_local(listing, &addrs), [a("fd00:1::2"), a("ff00::")]);
    }

    #[test]
    #[ignore = "needs root"]
    fn waiting_for_addresses_ends_once_they_are_local_and_names_one_that_is_not() {
        let _turn = super::super::tests::serial();
        let ns = Netns::create_unique("hw-t-ad").expect("create");
        ns.ip(&[
            "link", "add", "hwd0", "type", "veth", "peer", "name", "hwd1",
        ])
        .expect("veth");
        for end in ["hwd0", "hwd1"] {
            ns.ip(&["link", "set", end, "up"]).expect("up");
        }
        ns.ip(&["addr", "add", "fd00:1::1/64", "dev", "hwd0", "nodad"])
            .expect("addr");
        let a = |s: &str| s.parse::<Ipv6Addr>().expect("address");
        ns.wait_local_v6(&[a("fd00:1::1")], Duration::from_secs(10))
            .expect("added, so local");
        let err = ns
            .wait_local_v6(
                &[a("fd00:1::1"), a("fd00:1::9")],
                Duration::from_millis(200),
            )
            .expect_err("never added");
        assert!(
            err.to_string()
                .contains("1 of its IPv6 addresses (first fd00:1::9)"),
            "{err}"
        );
        ns.remove().expect("remove");
    }
}
