use hostwall::model::*;
use hostwall::source::Span;
fn main() {
    let s = Span::default();
    let ports = |v: &[(Proto, u16, u16)]| {
        Traffic::Ports(
            v.iter()
                .map(|(p, a, b)| PortSpec {
                    proto: *p,
                    range: PortRange { lo: *a, hi: *b },
                    span: s,
                })
                .collect(),
        )
    };
    let rule = |svc: &str, t: Traffic| Rule {
        verdict: Verdict::Accept,
        service: Some(svc.into()),
        traffic: t,
        sources: None,
        destinations: None,
        iif: vec![],
        oif: vec![],
        established_only: false,
        counter: false,
        span: s,
    };
    let mut mig = rule("kvm-migration", ports(&[(Proto::Tcp, 49152, 49216)]));
    mig.sources = Some(Addrs {
        name: Some("mgmt".into()),
        nets: vec![
            "10.0.0.0/24".parse().unwrap(),
            "10.1.0.0/24".parse().unwrap(),
            "fd00::/64".parse().unwrap(),
        ],
        span: s,
    });
    let mut dns = rule("dns", ports(&[(Proto::Udp, 53, 53), (Proto::Tcp, 53, 53)]));
    dns.iif = vec![IfName {
        name: "virbr".into(),
        wildcard: true,
    }];
    let p = Policy {
        name: "t".into(),
        span: s,
        default: DefaultAction::Reject,
        forwarding: Forwarding {
            ipv4: Some((true, s)),
            ipv6: None,
        },
        input: vec![
            rule(
                "icmp",
                Traffic::Icmp {
                    family: IpFamily::V4,
                    types: None,
                },
            ),
            rule(
                "icmp",
                Traffic::Icmp {
                    family: IpFamily::V6,
                    types: Some(vec![128, 1]),
                },
            ),
            rule("ssh", ports(&[(Proto::Tcp, 22, 22)])),
            rule(
                "vdsm-reg",
                ports(&[(Proto::Tcp, 80, 80), (Proto::Tcp, 443, 443)]),
            ),
            rule("spice", ports(&[(Proto::Tcp, 5634, 6166)])),
            mig,
            dns,
        ],
        forward: Some(vec![{
            let mut r = rule("x", Traffic::Any);
            r.service = None;
            r.iif = vec![IfName {
                name: "virbr".into(),
                wildcard: true,
            }];
            r
        }]),
        forward_default: DefaultAction::Reject,
        log_rejected: Some(LogRejected {
            limit: Some(Rate {
                count: 10,
                unit: RateUnit::Minute,
                burst: 5,
            }),
            prefix: "hostwall: ".into(),
            group: None,
            span: s,
        }),
        count_rejected: true,
        settings: Settings::default(),
    };
    let rs = hostwall::compile::compile(&p);
    if std::env::args().any(|a| a=="json") { print!("{}", hostwall::emit::json::render(&rs)); } else { print!("{}", hostwall::emit::text::render(&rs, "policy t")); }
}
