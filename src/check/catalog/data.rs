//! The built-in service catalog's entries: firewalld's services a virtualization, storage,
//! management or monitoring host uses (firewalld's names and ports), and the host-security
//! guide's own entries. The first entry naming a port is the one `diff` suggests for it,
//! so entries are only ever appended.

use super::Builtin;
use super::Reference::{Differs, Firewalld, Guide, Upstream};
use crate::model::Proto::{Tcp, Udp};

const fn fw(name: &'static str, about: &'static str, ports: super::Ports) -> Builtin {
    Builtin::new(name, about, Firewalld(name), ports)
}

const fn guide(name: &'static str, about: &'static str, ports: super::Ports) -> Builtin {
    Builtin::new(name, about, Guide, ports)
}

/// Why `dhcp` keeps DHCPv6's port.
const DHCP_WHY: &str = "hostwall's dhcp has always served DHCPv6 too (udp 547) and every built-in \
                        policy relies on it; firewalld splits that into dhcpv6";
/// Why `snmp` stays UDP only.
const SNMP_WHY: &str = "hostwall's snmp has always been the agent's UDP port only; firewalld's \
                        adds tcp 161, which policies written for it did not open: write \
                        `allow snmp, tcp 161` or `allow tcp 161` for it";

pub(super) const CATALOG: &[Builtin] = &[
    fw("ssh", "SSH", &[(Tcp, 22, 22)]),
    guide(
        "vdsm-reg",
        "vdsm-reg (RHEV manager registration)",
        &[(Tcp, 80, 80), (Tcp, 443, 443)],
    ),
    guide("spice", "SPICE guest consoles", &[(Tcp, 5634, 6166)]),
    guide(
        "kvm-migration",
        "KVM live migration",
        &[(Tcp, 49152, 49216)],
    ),
    fw("libvirt-tls", "libvirtd over TLS", &[(Tcp, 16514, 16514)]),
    fw(
        "libvirt",
        "libvirtd plain TCP (unencrypted)",
        &[(Tcp, 16509, 16509)],
    )
    .aliases(&["libvirt-tcp"]),
    guide(
        "vnc",
        "VNC guest consoles (100 displays)",
        &[(Tcp, 5900, 5999)],
    )
    .note("firewalld's vnc-server opens the first 4 displays only (tcp 5900-5903)"),
    fw("dns", "DNS", &[(Udp, 53, 53), (Tcp, 53, 53)]),
    Builtin::new(
        "dhcp",
        "DHCP and DHCPv6 server",
        Differs("dhcp", DHCP_WHY),
        &[(Udp, 67, 67), (Udp, 547, 547)],
    ),
    fw("http", "HTTP", &[(Tcp, 80, 80)]),
    fw("https", "HTTPS", &[(Tcp, 443, 443)]),
    fw("nfs", "NFSv4", &[(Tcp, 2049, 2049)]),
    guide("iscsi", "iSCSI target", &[(Tcp, 3260, 3260)])
        .note("firewalld's iscsi-target also opens udp 3260"),
    fw("ntp", "NTP", &[(Udp, 123, 123)]),
    Builtin::new(
        "snmp",
        "SNMP agent",
        Differs("snmp", SNMP_WHY),
        &[(Udp, 161, 161)],
    ),
    // Virtualization.
    fw(
        "vdsm",
        "oVirt's Virtual Desktop and Server Manager",
        &[(Tcp, 54321, 54321), (Tcp, 5900, 6923), (Tcp, 49152, 49216)],
    ),
    fw("ovirt-imageio", "oVirt Image I/O", &[(Tcp, 54322, 54322)]),
    fw("ovirt-vmconsole", "oVirt VM Console", &[(Tcp, 2223, 2223)]),
    fw(
        "ovirt-storageconsole",
        "oVirt Storage-Console",
        &[(Tcp, 55863, 55863), (Tcp, 39543, 39543)],
    ),
    fw(
        "vnc-server",
        "Virtual Network Computing Server (VNC)",
        &[(Tcp, 5900, 5903)],
    ),
    // Management.
    fw("cockpit", "Cockpit", &[(Tcp, 9090, 9090)]),
    fw("wsman", "WS-Management", &[(Tcp, 5985, 5985)]),
    fw("wsmans", "WS-Management over TLS", &[(Tcp, 5986, 5986)]),
    fw("wbem-http", "WBEM (CIM) over HTTP", &[(Tcp, 5988, 5988)]),
    fw("wbem-https", "WBEM (CIM) over HTTPS", &[(Tcp, 5989, 5989)]),
    fw(
        "salt-master",
        "Salt Master",
        &[(Tcp, 4505, 4505), (Tcp, 4506, 4506)],
    ),
    fw("puppetmaster", "Puppet Master", &[(Tcp, 8140, 8140)]),
    fw(
        "high-availability",
        "Red Hat High Availability (pacemaker, corosync)",
        &[
            (Tcp, 2224, 2224),
            (Tcp, 3121, 3121),
            (Tcp, 5403, 5403),
            (Udp, 5404, 5404),
            (Udp, 5405, 5412),
            (Tcp, 9929, 9929),
            (Udp, 9929, 9929),
            (Tcp, 21064, 21064),
        ],
    ),
    // Storage.
    fw("nfs3", "NFSv3", &[(Tcp, 2049, 2049), (Udp, 2049, 2049)]),
    fw("rpc-bind", "rpcbind", &[(Tcp, 111, 111), (Udp, 111, 111)]),
    fw(
        "mountd",
        "NFS mountd",
        &[(Tcp, 20048, 20048), (Udp, 20048, 20048)],
    ),
    fw(
        "rquotad",
        "NFS rquotad",
        &[(Tcp, 875, 875), (Udp, 875, 875)],
    ),
    fw(
        "iscsi-target",
        "iSCSI target",
        &[(Tcp, 3260, 3260), (Udp, 3260, 3260)],
    ),
    fw("isns", "iSNS", &[(Tcp, 3205, 3205), (Udp, 3205, 3205)]),
    fw("nbd", "Network Block Device", &[(Tcp, 10809, 10809)]),
    fw("ceph", "Ceph OSD and MDS", &[(Tcp, 6800, 7300)]),
    fw(
        "ceph-mon",
        "Ceph monitor",
        &[(Tcp, 3300, 3300), (Tcp, 6789, 6789)],
    ),
    fw("ceph-exporter", "Ceph exporter", &[(Tcp, 9283, 9283)]),
    Builtin::new(
        "glusterfs",
        "GlusterFS (glusterd, Gluster NFS, 512 bricks)",
        Upstream("glusterfs", "glusterfs's extras/firewalld/glusterfs.xml"),
        &[
            (Tcp, 24007, 24007),
            (Tcp, 24008, 24008),
            (Tcp, 38465, 38469),
            (Tcp, 49152, 49664),
        ],
    ),
    fw("ctdb", "CTDB", &[(Tcp, 4379, 4379), (Udp, 4379, 4379)]),
    fw(
        "rsyncd",
        "rsync daemon",
        &[(Tcp, 873, 873), (Udp, 873, 873)],
    ),
    // Monitoring and logging.
    fw(
        "prometheus-node-exporter",
        "Prometheus node exporter",
        &[(Tcp, 9100, 9100)],
    ),
    fw("prometheus", "Prometheus", &[(Tcp, 9090, 9090)]),
    fw("zabbix-agent", "Zabbix agent", &[(Tcp, 10050, 10050)]),
    fw("zabbix-server", "Zabbix server", &[(Tcp, 10051, 10051)]),
    fw("nrpe", "Nagios NRPE", &[(Tcp, 5666, 5666)]),
    fw("checkmk-agent", "Checkmk agent", &[(Tcp, 6556, 6556)]),
    fw(
        "snmptrap",
        "SNMP traps",
        &[(Tcp, 162, 162), (Udp, 162, 162)],
    ),
    fw(
        "snmptls",
        "SNMP over TLS",
        &[(Tcp, 10161, 10161), (Udp, 10161, 10161)],
    ),
    fw(
        "snmptls-trap",
        "SNMP traps over TLS",
        &[(Tcp, 10162, 10162), (Udp, 10162, 10162)],
    ),
    fw("syslog", "syslog", &[(Udp, 514, 514)]),
    fw(
        "syslog-tls",
        "syslog over TLS",
        &[(Tcp, 6514, 6514), (Udp, 6514, 6514)],
    ),
    fw("collectd", "collectd", &[(Udp, 25826, 25826)]),
    fw(
        "netdata-dashboard",
        "Netdata dashboard",
        &[(Tcp, 19999, 19999)],
    ),
    fw(
        "pmcd",
        "PCP metrics collector (pmcd)",
        &[(Tcp, 44321, 44321)],
    ),
    fw(
        "pmproxy",
        "PCP metrics proxy (pmproxy)",
        &[(Tcp, 44322, 44322)],
    ),
    fw("grafana", "Grafana", &[(Tcp, 3000, 3000)]),
    fw("ganglia-client", "Ganglia client", &[(Tcp, 8660, 8660)]),
    // Backup.
    fw("bacula-client", "Bacula client", &[(Tcp, 9102, 9102)]),
    fw(
        "bareos-filedaemon",
        "Bareos file daemon",
        &[(Tcp, 9102, 9102)],
    ),
    // Network services a host offers its guests or its site.
    fw("dhcpv6", "DHCPv6 server", &[(Udp, 547, 547)]),
    fw("dhcpv6-client", "DHCPv6 client", &[(Udp, 546, 546)]).note(
        "firewalld accepts it only to fe80::/64; hostwall's catalog has ports only, so add \
         your own destination limit if you need one",
    ),
    fw("dns-over-tls", "DNS over TLS", &[(Tcp, 853, 853)]),
    fw("tftp", "TFTP server", &[(Udp, 69, 69)]).note(
        "firewalld also loads the tftp conntrack helper; hostwall does not (docs/services.md)",
    ),
    fw("proxy-dhcp", "PXE proxy DHCP", &[(Udp, 4011, 4011)]),
    fw(
        "ptp",
        "Precision Time Protocol",
        &[(Udp, 319, 319), (Udp, 320, 320)],
    ),
    fw("wireguard", "WireGuard", &[(Udp, 51820, 51820)]),
    fw("openvpn", "OpenVPN", &[(Udp, 1194, 1194)]),
    fw("http3", "HTTP/3 (QUIC)", &[(Udp, 443, 443)]),
];
