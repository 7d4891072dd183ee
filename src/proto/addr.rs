//! Address rules: what a node advertises on a connection, what it records for a peer, what it may hand out.
//!
//! Pure functions over [`PeerAddr`] and the socket addresses the executor
//! reports; the state machine calls them in `hello.rs` and `advertise.rs`.
//! docs/PROTOCOL.md, "Addresses" states the same rules for people.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::wire::PeerAddr;

/// Why an address may not be dialled, recorded or handed out as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// Port 0: nothing can be reached there.
    PortZero,
    /// `0.0.0.0` or `::`: "any address" of a listener, not a place to dial.
    Unspecified,
    /// `0.0.0.0/8` ("this network"), which no host can be reached at.
    ThisNetwork,
    /// A multicast group.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `169.254.0.0/16` or `fe80::/10`: valid only on one link, and without
    /// the interface it belongs to.
    LinkLocal,
    /// A loopback address, going to or coming from a peer that is not on loopback
    /// (for it, the address means itself).
    LoopbackToRemote,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unusable::PortZero => "port 0",
            Unusable::Unspecified => "unspecified address",
            Unusable::ThisNetwork => "address in 0.0.0.0/8",
            Unusable::Multicast => "multicast address",
            Unusable::Broadcast => "broadcast address",
            Unusable::LinkLocal => "link-local address",
            Unusable::LoopbackToRemote => "loopback address for a remote peer",
        })
    }
}

/// Where an address that may be used leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// This very host (`127.0.0.0/8`, `::1`, `localhost`).
    Loopback,
    /// Another host, or a name whose addresses are not known here.
    Network,
}

/// The host as an IP, if it is one (`[v6]` brackets allowed); an
/// IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) comes back as IPv4.
pub fn host_ip(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().ok().map(normalize_ip)
}

/// An IPv4-mapped IPv6 address as the IPv4 address it stands for; any other unchanged.
///
/// A dual-stack `[::]` listener sees IPv4 peers as `::ffff:a.b.c.d`; they
/// are recorded and handed out as `a.b.c.d`, so an IPv4-only node can dial them.
pub fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The address with an IP host written in its one canonical form (mapped
/// IPv4 unwrapped, IPv6 compressed, no brackets); a name is left as it is.
pub fn normalize(addr: &PeerAddr) -> PeerAddr {
    match host_ip(addr.host()) {
        Some(ip) => PeerAddr::new(ip.to_string(), addr.port()),
        None => addr.clone(),
    }
}

/// Where `addr` leads, or why it leads nowhere useful. Names are taken on
/// trust (`localhost` and `*.localhost` are loopback), since only a resolver
/// knows their addresses.
pub fn classify(addr: &PeerAddr) -> Result<Reach, Unusable> {
    if addr.port() == 0 {
        return Err(Unusable::PortZero);
    }
    match host_ip(addr.host()) {
        Some(ip) => classify_ip(ip),
        None => {
            let host = addr.host().trim_end_matches('.').to_ascii_lowercase();
            if host == "localhost" || host.ends_with(".localhost") {
                Ok(Reach::Loopback)
            } else {
                Ok(Reach::Network)
            }
        }
    }
}

fn classify_ip(ip: IpAddr) -> Result<Reach, Unusable> {
    match normalize_ip(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Result<Reach, Unusable> {
    if ip.is_unspecified() {
        Err(Unusable::Unspecified)
    } else if ip.octets()[0] == 0 {
        Err(Unusable::ThisNetwork)
    } else if ip.is_broadcast() {
        Err(Unusable::Broadcast)
    } else if ip.is_multicast() {
        Err(Unusable::Multicast)
    } else if ip.is_link_local() {
        Err(Unusable::LinkLocal)
    } else if ip.is_loopback() {
        Ok(Reach::Loopback)
    } else {
        Ok(Reach::Network)
    }
}

fn classify_v6(ip: Ipv6Addr) -> Result<Reach, Unusable> {
    if ip.is_unspecified() {
        Err(Unusable::Unspecified)
    } else if ip.is_multicast() {
        Err(Unusable::Multicast)
    } else if ip.segments()[0] & 0xffc0 == 0xfe80 {
        Err(Unusable::LinkLocal)
    } else if ip.is_loopback() {
        Ok(Reach::Loopback)
    } else {
        Ok(Reach::Network)
    }
}

/// True if the node at the other end of a connection from `ip` is on this
/// host. `None` (no socket: the simulator, in-memory links) counts as loopback,
/// so those networks keep the rules of a single host.
fn on_loopback(ip: Option<IpAddr>) -> bool {
    ip.is_none_or(|ip| normalize_ip(ip).is_loopback())
}

/// The address a node puts in its `PING`/`PONG` on one connection.
///
/// `advertise` (`NodeConfig::advertise`) when given; else `listen` when its
/// host is a specific address or a name; else, for a listener on `0.0.0.0`
/// or `[::]`, the local IP of this connection's socket (the address the peer
/// reached this node at, or will reach it at) with the listen port. Without a
/// socket to ask, loopback of the listener's family stands in.
pub fn hello_addr(
    advertise: Option<&PeerAddr>,
    listen: &PeerAddr,
    local: Option<SocketAddr>,
) -> PeerAddr {
    if let Some(addr) = advertise {
        return normalize(addr);
    }
    let Some(ip) = host_ip(listen.host()) else {
        return listen.clone();
    };
    if !ip.is_unspecified() {
        return PeerAddr::new(ip.to_string(), listen.port());
    }
    let host = match (local.map(|l| normalize_ip(l.ip())), ip) {
        (Some(local), _) if !local.is_unspecified() => local,
        (_, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        (_, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    PeerAddr::new(host.to_string(), listen.port())
}

/// What a node records for a peer whose hello advertised `advertised` on a
/// connection from `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The address to record (normalised).
    pub addr: PeerAddr,
    /// True when the advertised host was replaced by the connection's source IP.
    pub corrected: bool,
}

/// Decides the address to record for a peer from its hello.
///
/// A usable address is recorded as advertised (normalised). An unspecified,
/// `0.0.0.0/8`, multicast, broadcast or link-local host, or a loopback host
/// over a connection from another host, is replaced by the connection's
/// source IP with the advertised port: the original peers advertise whatever
/// host they were started with, and a node on `0.0.0.0` cannot know better.
/// Port 0, or an unusable host with no source to take instead, is refused.
pub fn record_hello(advertised: &PeerAddr, source: Option<IpAddr>) -> Result<Recorded, Unusable> {
    let addr = normalize(advertised);
    let source = source.map(normalize_ip);
    let kind = classify(&addr);
    let keep = match kind {
        Err(Unusable::PortZero) => return Err(Unusable::PortZero),
        Ok(Reach::Network) => true,
        Ok(Reach::Loopback) => on_loopback(source),
        Err(_) => false,
    };
    if keep {
        return Ok(Recorded {
            addr,
            corrected: false,
        });
    }
    match source {
        Some(ip) if !ip.is_unspecified() => Ok(Recorded {
            addr: PeerAddr::new(ip.to_string(), addr.port()),
            corrected: true,
        }),
        _ => Err(kind.err().unwrap_or(Unusable::LoopbackToRemote)),
    }
}

/// Checks `addr` may pass between this node and the peer at `peer_ip`: in an
/// `ADVERTISE_REPLY` this node sends to it, or one it received from it.
/// Returns the normalised address, or why it must not be handed out (or dialled).
///
/// Never an unusable address; a loopback one only between nodes on
/// loopback (to anyone else it names the wrong host).
pub fn shareable(addr: &PeerAddr, peer_ip: Option<IpAddr>) -> Result<PeerAddr, Unusable> {
    let addr = normalize(addr);
    match classify(&addr)? {
        Reach::Loopback if !on_loopback(peer_ip) => Err(Unusable::LoopbackToRemote),
        _ => Ok(addr),
    }
}

#[cfg(test)]
mod tests;
