//! firewalld configurations built with the real `firewall-offline-cmd` in a temp
//! directory (`--system-config`; no daemon, the host's /etc/firewalld untouched), and
//! firewalld's own nftables ruleset for one, made by firewalld's code in a throwaway
//! network namespace.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One configuration: a name and the `firewall-offline-cmd` calls that build it.
pub struct Setup {
    pub name: &'static str,
    pub default_zone: &'static str,
    pub calls: &'static [&'static [&'static str]],
}

/// Five configurations a virtualization host might have, rich rules included.
pub const SETUPS: &[Setup] = &[
    Setup {
        name: "public-virt-host",
        default_zone: "public",
        calls: &[
            &["--zone=public", "--remove-service-from-zone=dhcpv6-client"],
            &[
                "--zone=public",
                "--add-service=cockpit",
                "--add-service=libvirt-tls",
                "--add-service=vdsm",
            ],
            &["--zone=public", "--add-port=8443/tcp"],
            &["--zone=public", "--add-icmp-block=echo-request"],
        ],
    },
    Setup {
        name: "mgmt-source-zone",
        default_zone: "public",
        calls: &[
            &["--zone=public", "--remove-service-from-zone=dhcpv6-client"],
            &["--zone=public", "--set-target=DROP"],
            &["--zone=internal", "--add-source=10.20.0.0/16"],
            &[
                "--zone=internal",
                "--remove-service-from-zone=mdns",
                "--remove-service-from-zone=samba-client",
                "--remove-service-from-zone=dhcpv6-client",
            ],
            &[
                "--zone=internal",
                "--add-service=cockpit",
                "--add-service=prometheus-node-exporter",
                "--add-service=zabbix-agent",
            ],
        ],
    },
    Setup {
        name: "storage-interface-zone",
        default_zone: "drop",
        calls: &[
            &["--new-zone=storage"],
            &["--zone=storage", "--set-target=%%REJECT%%"],
            &["--zone=storage", "--add-interface=eth1"],
            &[
                "--zone=storage",
                "--add-service=nfs",
                "--add-service=rpc-bind",
                "--add-service=mountd",
                "--add-service=iscsi-target",
            ],
            &["--zone=drop", "--add-service=ssh"],
        ],
    },
    Setup {
        name: "rich-rules",
        default_zone: "public",
        calls: &[
            &["--zone=public", "--remove-service-from-zone=dhcpv6-client"],
            &[
                "--zone=public",
                "--add-rich-rule=rule family=\"ipv4\" source address=\"198.18.0.0/24\" service name=\"libvirt\" log prefix=\"libvirt \" level=\"info\" accept",
            ],
            &[
                "--zone=public",
                "--add-rich-rule=rule family=\"ipv4\" source address=\"198.18.0.2\" port port=\"22\" protocol=\"tcp\" reject",
            ],
            &[
                "--zone=public",
                "--add-rich-rule=rule family=\"ipv6\" source address=\"2001:db8::/32\" service name=\"http\" accept",
            ],
            &[
                "--zone=public",
                "--add-rich-rule=rule family=\"ipv4\" source address=\"192.0.2.7\" drop",
            ],
            &[
                "--zone=public",
                "--add-rich-rule=rule family=\"ipv4\" destination address=\"192.0.2.1\" service name=\"https\" accept",
            ],
        ],
    },
    Setup {
        name: "custom-service-and-nat",
        default_zone: "dmz",
        calls: &[
            &["--new-service=myapp"],
            &["--service=myapp", "--add-port=9443/tcp"],
            &["--service=myapp", "--add-port=9444-9445/udp"],
            &[
                "--zone=dmz",
                "--add-service=myapp",
                "--add-service=dhcpv6-client",
            ],
            &["--zone=dmz", "--add-masquerade"],
            &[
                "--zone=dmz",
                "--add-forward-port=port=80:proto=tcp:toport=8080",
            ],
        ],
    },
];

/// firewalld's programs run by the system Python (they import its `firewall` module).
const PYTHON: &str = "/usr/bin/python3";
const OFFLINE_CMD: &str = "/usr/bin/firewall-offline-cmd";

/// Builds `setup` under `dir` (its /etc/firewalld); panics with firewalld's message.
pub fn build(setup: &Setup, dir: &Path) -> PathBuf {
    let etc = dir.join(setup.name);
    std::fs::create_dir_all(&etc).expect("mkdir");
    let conf = format!("DefaultZone={}\n", setup.default_zone);
    std::fs::write(etc.join("firewalld.conf"), conf).expect("write firewalld.conf");
    for call in setup.calls {
        let out = Command::new(PYTHON)
            .arg(OFFLINE_CMD)
            .arg(format!("--system-config={}", etc.display()))
            .args(*call)
            .output()
            .unwrap_or_else(|e| panic!("{OFFLINE_CMD}: {e} (install the firewalld package)"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains("success"),
            "{}: {call:?}: {text}",
            setup.name
        );
    }
    etc
}

/// The ruleset firewalld itself makes of `etc` (`nft list ruleset`), built by firewalld's
/// own code (`firewall.core.fw.Firewall().start()`, no D-Bus, no daemon) in a network
/// namespace that ends with the process (`unshare -n`). Needs root.
pub fn ruleset(etc: &Path, out: &Path) {
    const SCRIPT: &str = "import sys, subprocess\n\
        import firewall.config as c\n\
        c.set_system_config_paths(sys.argv[1])\n\
        from firewall.core.fw import Firewall\n\
        Firewall().start()\n\
        r = subprocess.run(['nft', 'list', 'ruleset'], capture_output=True, text=True, check=True)\n\
        open(sys.argv[2], 'w').write(r.stdout)\n";
    let o = Command::new("unshare")
        .args(["-n", PYTHON, "-c", SCRIPT])
        .arg(etc)
        .arg(out)
        .output()
        .expect("unshare");
    assert!(
        o.status.success(),
        "firewalld's ruleset: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
