//! A template fitted to what `init` found: sshd's ports in place of the template's
//! SSH rule, DNS and DHCP on every libvirt bridge the template's rules do not reach,
//! `forwarding on` when a libvirt network routes guests and the template says nothing.

use super::Found;
use super::libvirt::Network;
use super::sshd::Source;

/// The policy text: a header saying what was found, then the fitted template.
pub fn policy(template: &str, text: &str, found: &Found) -> String {
    let mut out = format!(
        "# Written by `hostwall init` from the {template} template, fitted to this host:\n"
    );
    for line in super::report(found) {
        out.push_str(&format!("#   {line}\n"));
    }
    out.push_str("#\n");
    let ssh_fitted = text.lines().any(|l| ssh_rule(l).is_some());
    let mut inserted = false;
    for line in text.lines() {
        match ssh_rule(line) {
            Some((indent, rest)) => {
                out.push_str(&ssh_line(indent, rest, found));
                out.push_str(&extra_lines(text, found));
                inserted = true;
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
        if !ssh_fitted && !inserted && is_policy_head(line) {
            out.push_str(&ssh_line("    ", "", found));
            out.push_str(&extra_lines(text, found));
            inserted = true;
        }
    }
    out
}

/// The site file: a header, then the template's own site file or a commented example.
pub fn site(template: &str, site: Option<&str>) -> String {
    let mut out = format!(
        "# Site file for host.policy, written by `hostwall init` ({template} template).\n\
         # This host's values for the policy: its table name, log prefix, networks and\n\
         # interfaces (docs/policy-language.md, \"The site file\"). Every key is optional.\n#\n"
    );
    match site {
        Some(s) => out.push_str(s),
        None => out.push_str(
            "# table = \"hostwall\"          # the nftables table (inet family)\n\
             # log_prefix = \"hostwall: \"\n\
             #\n\
             # [networks]                    # names a policy can use: `allow ssh from mgmt`\n\
             # mgmt = [\"10.0.0.0/24\", \"fd00:10::/64\"]\n\
             #\n\
             # [interfaces]                  # names for `on NAME`\n\
             # uplink = \"eth0\"\n",
        ),
    }
    out
}

fn is_policy_head(line: &str) -> bool {
    let code = line.split('#').next().unwrap_or("").trim();
    code.starts_with("policy ") && code.ends_with('{')
}

/// A template line `allow ssh tcp 22 REST`: (indent, REST without its comment).
fn ssh_rule(line: &str) -> Option<(&str, &str)> {
    let code = line.split('#').next().unwrap_or("");
    let indent = &code[..code.len() - code.trim_start().len()];
    let mut words = code.trim_start();
    for want in ["allow", "ssh", "tcp", "22"] {
        words = words.strip_prefix(want)?;
        if !(words.is_empty() || words.starts_with(char::is_whitespace)) {
            return None;
        }
        words = words.trim_start();
    }
    Some((indent, words.trim_end()))
}

/// The SSH rule for sshd's real ports (the template's conditions kept).
fn ssh_line(indent: &str, rest: &str, found: &Found) -> String {
    let ports: Vec<String> = found.ssh.ports.iter().map(u16::to_string).collect();
    let rule = if found.ssh.ports == [22] {
        "allow ssh tcp 22".to_string()
    } else {
        format!("allow tcp {}", ports.join(", "))
    };
    let rest = if rest.is_empty() {
        String::new()
    } else {
        format!(" {rest}")
    };
    let why: &str = match &found.ssh.source {
        Source::Config(_) => "sshd listens here (`sshd -T`)",
        Source::Sockets => "sshd listens here (its listening sockets)",
        Source::NotFound => "sshd was not found: port 22 assumed, check it before applying",
    };
    format!("{indent}{rule}{rest}  # {why}\n")
}

/// `forwarding on` and the DNS/DHCP rules the template lacks.
fn extra_lines(text: &str, found: &Found) -> String {
    let mut out = String::new();
    let routed: Vec<&Network> = found.networks.iter().filter(|n| n.routes).collect();
    if !routed.is_empty() && !has_forwarding(text) {
        let names: Vec<String> = routed.iter().map(|n| label(n)).collect();
        let verb = if names.len() == 1 { "routes" } else { "route" };
        out.push_str(&format!(
            "    forwarding on  # {} {verb} guests through the host\n",
            names.join(", ")
        ));
    }
    for n in found.networks.iter().filter(|n| !covered(text, n)) {
        let b = &n.bridge;
        out.push_str(&format!(
            "    allow dns  udp 53 tcp 53 on \"{b}\"  # {}: DNS from dnsmasq\n",
            label(n)
        ));
        out.push_str(&format!(
            "    allow dhcp udp 67, 547 on \"{b}\"    # {}: DHCP and DHCPv6 leases\n",
            label(n)
        ));
    }
    out
}

/// "libvirt network default (nat, virbr0)" or "bridge virbr3 (no libvirt XML)".
pub fn label(n: &Network) -> String {
    match &n.name {
        Some(name) => format!("libvirt network {name} ({}, {})", n.mode, n.bridge),
        None => format!("bridge {} (no libvirt XML names it)", n.bridge),
    }
}

fn has_forwarding(text: &str) -> bool {
    text.lines().any(|l| {
        let code = l.split('#').next().unwrap_or("").trim_start();
        code.starts_with("forwarding ")
    })
}

/// Whether the template's `on "virbr*"` DNS and DHCP rules already reach `n`'s bridge.
pub fn covered(text: &str, n: &Network) -> bool {
    let has = |svc: &str| {
        text.lines().any(|l| {
            let code = l.split('#').next().unwrap_or("").trim_start();
            code.split_whitespace().take(2).eq(["allow", svc]) && code.contains("on \"virbr*\"")
        })
    };
    n.bridge.starts_with("virbr") && has("dns") && has("dhcp")
}
