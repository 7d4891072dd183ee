//! `host:port` syntax: what `--listen`, `--bootstrap`, `join` and `bootstrap` accept.
//!
//! Only the syntax is checked here; a host name is resolved when it is dialled
//! (or bound), so a name that does not resolve fails then, not now.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{Error, Result};
use crate::proto::PeerAddr;

/// Longest host name (RFC 1123, without a trailing dot).
const MAX_NAME_LEN: usize = 253;
/// Longest label of a host name.
const MAX_LABEL_LEN: usize = 63;

/// Parses `host:port` into an address to dial: the host an IPv4 address,
/// `[v6]` (a bare IPv6 address before the last `:` is also taken), or a host
/// name of RFC 1123 labels; the port 1 to 65535.
pub fn parse_addr(s: &str) -> Result<PeerAddr> {
    parse(s, false)
}

/// Parses a listen address: as [`parse_addr`], and port 0 (the OS picks one) allowed.
pub fn parse_listen_addr(s: &str) -> Result<PeerAddr> {
    parse(s, true)
}

fn parse(s: &str, port_zero: bool) -> Result<PeerAddr> {
    let bad = |reason: &str| Error::InvalidAddress {
        addr: s.to_string(),
        reason: reason.to_string(),
    };
    let text = s.trim();
    let (host, port, bracketed) = split(text).ok_or_else(|| bad("expected host:port"))?;
    if host.is_empty() {
        return Err(bad("the host is missing (expected host:port)"));
    }
    let port_range = if port_zero {
        "0 to 65535"
    } else {
        "1 to 65535"
    };
    let port = match port.parse::<u16>() {
        Ok(0) if !port_zero => None,
        Ok(p) => Some(p),
        Err(_) => None,
    }
    .ok_or_else(|| bad(&format!("the port must be a number from {port_range}")))?;
    if bracketed && host.parse::<Ipv6Addr>().is_err() {
        return Err(bad(&format!("{host:?} is not an IPv6 address")));
    }
    check_host(host).map_err(|reason| bad(&reason))?;
    Ok(PeerAddr::new(host, port))
}

/// Splits at the port's colon: after `]` for `[v6]:port`, else the last one.
/// The host comes back without brackets, and whether it had them.
fn split(text: &str) -> Option<(&str, &str, bool)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        return Some((host, port, true));
    }
    let (host, port) = text.rsplit_once(':')?;
    Some((host, port, false))
}

/// Checks `host` is an IP address or a host name (a bracketed one was unwrapped).
fn check_host(host: &str) -> std::result::Result<(), String> {
    if host.parse::<Ipv4Addr>().is_ok() || host.parse::<Ipv6Addr>().is_ok() {
        return Ok(());
    }
    if host.contains(':') {
        return Err(format!("{host:?} is not an IPv6 address"));
    }
    let not_a_name = |why: &str| {
        Err(format!(
            "{host:?} is not an IP address or a host name ({why})"
        ))
    };
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.len() > MAX_NAME_LEN {
        return not_a_name("longer than 253 characters");
    }
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() {
            return not_a_name("an empty label");
        }
        if label.len() > MAX_LABEL_LEN {
            return not_a_name("a label longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return not_a_name("only letters, digits, '-' and '.' may appear");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return not_a_name("a label starts or ends with '-'");
        }
        last = label;
    }
    // An all-digit top label is a mistyped IPv4 address (`300.1.1.1`), never a name.
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{host:?} is not a valid IPv4 address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> String {
        match parse_addr(s) {
            Err(Error::InvalidAddress { reason, .. }) => reason,
            other => panic!("{s:?} gave {other:?}"),
        }
    }

    /// IPv4, `[v6]`, a bare v6 before the last colon, and host names are accepted.
    #[test]
    fn accepts_ips_and_names() {
        for (s, host, port) in [
            ("127.0.0.1:7001", "127.0.0.1", 7001),
            ("[::1]:7001", "::1", 7001),
            ("::1:7001", "::1", 7001),
            ("[fe80::1]:1", "fe80::1", 1),
            ("localhost:65535", "localhost", 65535),
            ("peer-3.example.org:80", "peer-3.example.org", 80),
            ("example.org.:80", "example.org.", 80),
            ("3com.net:80", "3com.net", 80),
            (" node1:5000 ", "node1", 5000),
        ] {
            assert_eq!(parse_addr(s).unwrap(), PeerAddr::new(host, port), "{s}");
        }
    }

    /// Bad ports, a missing port or host, and hosts that are neither IPs nor names are refused with a reason.
    #[test]
    fn refuses_with_a_reason() {
        assert!(reason("foo:bar").contains("port must be a number from 1 to 65535"));
        assert!(reason("foo:0").contains("port"));
        assert!(reason("foo:70000").contains("port"));
        assert!(reason("foo:").contains("port"));
        assert_eq!(reason("nowhere"), "expected host:port");
        assert!(reason(":7001").contains("host is missing"));
        assert!(reason("[::1]:").contains("port"));
        assert_eq!(reason("[::1]7001"), "expected host:port");
        assert!(reason("[nope]:7001").contains("not an IPv6 address"));
        assert!(reason("fe80::1").contains("not an IPv6 address"));
        assert!(reason("a b:7001").contains("only letters"));
        assert!(reason("a_b:7001").contains("only letters"));
        assert!(reason("-a.org:7001").contains("'-'"));
        assert!(reason("a..org:7001").contains("empty label"));
        assert!(reason("300.1.1.1:7001").contains("not a valid IPv4"));
        assert!(reason(&format!("{}.org:1", "a".repeat(64))).contains("63"));
        let long = vec!["a".repeat(50); 6].join(".");
        assert!(reason(&format!("{long}:1")).contains("253"));
    }

    /// A listen address may ask for port 0; a dial address may not.
    #[test]
    fn listen_allows_port_zero() {
        assert_eq!(
            parse_listen_addr("0.0.0.0:0").unwrap(),
            PeerAddr::new("0.0.0.0", 0)
        );
        assert_eq!(
            parse_listen_addr("localhost:0").unwrap(),
            PeerAddr::new("localhost", 0)
        );
        assert!(parse_listen_addr("not-an-address").is_err());
        assert!(parse_addr("0.0.0.0:0").is_err());
    }
}
