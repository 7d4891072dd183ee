//! Unit tests of the address rules: each rule with the addresses it is about.

use super::*;

fn a(host: &str, port: u16) -> PeerAddr {
    PeerAddr::new(host, port)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Mapped IPv4, brackets and long IPv6 forms all come out in one form; names stay.
#[test]
fn normalises_hosts() {
    assert_eq!(
        normalize(&a("::ffff:192.0.2.7", 7000)),
        a("192.0.2.7", 7000)
    );
    assert_eq!(normalize(&a("[::1]", 7000)), a("::1", 7000));
    assert_eq!(normalize(&a("fd00:0:0:0:0:0:0:11", 1)), a("fd00::11", 1));
    assert_eq!(
        normalize(&a("Seed.Example.org", 1)),
        a("Seed.Example.org", 1)
    );
    assert_eq!(host_ip("::ffff:127.0.0.1"), Some(ip("127.0.0.1")));
    assert_eq!(host_ip("seed.example.org"), None);
}

/// Every kind of address that leads nowhere is named; the rest are loopback or network.
#[test]
fn classifies() {
    let cases = [
        ("0.0.0.0", Err(Unusable::Unspecified)),
        ("::", Err(Unusable::Unspecified)),
        ("0.1.2.3", Err(Unusable::ThisNetwork)),
        ("255.255.255.255", Err(Unusable::Broadcast)),
        ("224.0.0.1", Err(Unusable::Multicast)),
        ("ff02::1", Err(Unusable::Multicast)),
        ("169.254.10.1", Err(Unusable::LinkLocal)),
        ("fe80::1", Err(Unusable::LinkLocal)),
        ("febf::1", Err(Unusable::LinkLocal)),
        ("127.0.0.1", Ok(Reach::Loopback)),
        ("127.8.9.1", Ok(Reach::Loopback)),
        ("::1", Ok(Reach::Loopback)),
        ("::ffff:127.0.0.1", Ok(Reach::Loopback)),
        ("localhost", Ok(Reach::Loopback)),
        ("node.LOCALHOST.", Ok(Reach::Loopback)),
        ("192.0.2.1", Ok(Reach::Network)),
        ("10.0.0.7", Ok(Reach::Network)),
        ("fd00::11", Ok(Reach::Network)),
        ("fec0::1", Ok(Reach::Network)),
        ("seed.example.org", Ok(Reach::Network)),
    ];
    for (host, want) in cases {
        assert_eq!(classify(&a(host, 7000)), want, "{host}");
    }
    assert_eq!(classify(&a("192.0.2.1", 0)), Err(Unusable::PortZero));
}

/// The hello address: `--advertise`, else a specific listen address, else the
/// socket's local IP with the listen port; loopback of the family without a socket.
#[test]
fn hello_address_per_connection() {
    let any4 = a("0.0.0.0", 7000);
    let any6 = a("::", 7000);
    let local = Some(sock("192.0.2.12:40001"));
    assert_eq!(hello_addr(None, &any4, local), a("192.0.2.12", 7000));
    assert_eq!(
        hello_addr(None, &any6, Some(sock("[::ffff:192.0.2.12]:40001"))),
        a("192.0.2.12", 7000)
    );
    assert_eq!(
        hello_addr(None, &any6, Some(sock("[fd00::12]:40001"))),
        a("fd00::12", 7000)
    );
    assert_eq!(hello_addr(None, &any4, None), a("127.0.0.1", 7000));
    assert_eq!(hello_addr(None, &any6, None), a("::1", 7000));
    let specific = a("192.0.2.12", 7000);
    assert_eq!(
        hello_addr(None, &specific, Some(sock("10.1.1.1:5"))),
        specific
    );
    let named = a("mem3", 12);
    assert_eq!(hello_addr(None, &named, None), named);
    let advertise = a("chat.example.org", 443);
    assert_eq!(hello_addr(Some(&advertise), &any4, local), advertise);
}

/// A hello's address is kept when usable, corrected to the source IP when it
/// is unspecified, loopback from elsewhere, multicast, broadcast or
/// link-local, and refused for port 0 or when there is no source to use.
#[test]
fn records_hello_addresses() {
    let remote = Some(ip("192.0.2.7"));
    let kept = |host: &str, source| record_hello(&a(host, 7000), source);
    let ok = |host: &str, corrected| {
        Ok(Recorded {
            addr: a(host, 7000),
            corrected,
        })
    };
    assert_eq!(kept("192.0.2.9", remote), ok("192.0.2.9", false));
    assert_eq!(
        kept("seed.example.org", remote),
        ok("seed.example.org", false)
    );
    for bad in [
        "0.0.0.0",
        "::",
        "0.0.0.9",
        "127.0.0.1",
        "::1",
        "localhost",
        "224.1.1.1",
        "255.255.255.255",
        "fe80::1",
        "169.254.1.1",
    ] {
        assert_eq!(kept(bad, remote), ok("192.0.2.7", true), "{bad}");
    }
    // On loopback, loopback addresses stay as they are (every test network).
    let lo = Some(ip("127.0.0.1"));
    assert_eq!(kept("127.0.0.1", lo), ok("127.0.0.1", false));
    assert_eq!(kept("0.0.0.0", lo), ok("127.0.0.1", true));
    assert_eq!(kept("127.0.0.1", None), ok("127.0.0.1", false));
    // A dual-stack listener's mapped source is recorded as IPv4.
    assert_eq!(
        kept("0.0.0.0", Some(ip("::ffff:192.0.2.7"))),
        ok("192.0.2.7", true)
    );
    assert_eq!(kept("::ffff:192.0.2.9", remote), ok("192.0.2.9", false));
    // Refused: port 0 whatever the source; nothing to correct with.
    assert_eq!(
        record_hello(&a("192.0.2.9", 0), remote),
        Err(Unusable::PortZero)
    );
    assert_eq!(kept("0.0.0.0", None), Err(Unusable::Unspecified));
    assert_eq!(kept("ff02::1", None), Err(Unusable::Multicast));
}

/// What may be handed out: never an unusable address, loopback only between
/// nodes on loopback (or without sockets, as in the simulator).
#[test]
fn shares_only_what_reaches() {
    let remote = Some(ip("192.0.2.7"));
    let lo = Some(ip("127.0.0.1"));
    let mapped_lo = Some(ip("::ffff:127.0.0.1"));
    assert_eq!(
        shareable(&a("192.0.2.9", 7000), remote),
        Ok(a("192.0.2.9", 7000))
    );
    assert_eq!(
        shareable(&a("::ffff:192.0.2.9", 7000), remote),
        Ok(a("192.0.2.9", 7000))
    );
    assert_eq!(
        shareable(&a("127.0.0.1", 7000), remote),
        Err(Unusable::LoopbackToRemote)
    );
    assert_eq!(
        shareable(&a("::1", 7000), Some(ip("fd00::7"))),
        Err(Unusable::LoopbackToRemote)
    );
    assert_eq!(
        shareable(&a("127.0.0.1", 7000), lo),
        Ok(a("127.0.0.1", 7000))
    );
    assert_eq!(
        shareable(&a("127.0.0.1", 7000), mapped_lo),
        Ok(a("127.0.0.1", 7000))
    );
    assert_eq!(
        shareable(&a("127.0.0.1", 7000), None),
        Ok(a("127.0.0.1", 7000))
    );
    for bad in [
        "0.0.0.0",
        "::",
        "0.0.0.9",
        "239.1.1.1",
        "255.255.255.255",
        "fe80::9",
    ] {
        assert!(shareable(&a(bad, 7000), lo).is_err(), "{bad}");
        assert!(shareable(&a(bad, 7000), remote).is_err(), "{bad}");
    }
    assert_eq!(shareable(&a("192.0.2.9", 0), lo), Err(Unusable::PortZero));
}
