//! One dial attempt over TCP: resolve the host, try every address in turn, and name why it failed.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tracing::{debug, Span};

use crate::proto::addr::host_ip;
use crate::proto::{DialError, PeerAddr};
use crate::resolve::Resolver;

/// The socket addresses to try for `addr`: an IP host as it is, a name as the
/// resolver answers now (within `timeout`). No answer, an error or an empty
/// list is [`DialError::Unresolvable`].
pub async fn addresses(
    resolver: &dyn Resolver,
    addr: &PeerAddr,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, DialError> {
    if let Some(ip) = host_ip(addr.host()) {
        return Ok(vec![SocketAddr::new(ip, addr.port())]);
    }
    let ips = match tokio::time::timeout(timeout, resolver.resolve(addr.host())).await {
        Ok(Ok(ips)) => ips,
        Ok(Err(error)) => {
            debug!(%addr, %error, "name does not resolve");
            return Err(DialError::Unresolvable);
        }
        Err(_) => {
            debug!(%addr, ?timeout, "name lookup timed out");
            return Err(DialError::Unresolvable);
        }
    };
    if ips.is_empty() {
        debug!(%addr, "name resolves to no address");
        return Err(DialError::Unresolvable);
    }
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, addr.port()))
        .collect())
}

/// Connects to `addr`: every address it resolves to is tried in turn, each
/// for up to `timeout`. When all fail, the last one's error is returned.
pub async fn connect(
    resolver: &dyn Resolver,
    addr: &PeerAddr,
    timeout: Duration,
    span: &Span,
) -> Result<TcpStream, DialError> {
    let targets = addresses(resolver, addr, timeout).await?;
    let mut last = DialError::Unresolvable;
    for target in targets {
        match tokio::time::timeout(timeout, TcpStream::connect(target)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(error)) => {
                debug!(parent: span, %addr, %target, %error, "connect failed");
                last = classify(&error);
            }
            Err(_) => {
                debug!(parent: span, %addr, %target, ?timeout, "connect timed out");
                last = DialError::TimedOut;
            }
        }
    }
    Err(last)
}

/// The kind of a connect error.
pub fn classify(error: &io::Error) -> DialError {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => DialError::Refused,
        io::ErrorKind::TimedOut => DialError::TimedOut,
        _ if error
            .raw_os_error()
            .is_some_and(|code| UNREACHABLE.contains(&code)) =>
        {
            DialError::Unreachable
        }
        _ => DialError::Other(error.to_string()),
    }
}

/// `ENETUNREACH` and `EHOSTUNREACH` (named by number: the `io::ErrorKind`s
/// for them need a newer Rust than this crate's minimum).
#[cfg(target_os = "linux")]
const UNREACHABLE: [i32; 2] = [101, 113];
#[cfg(target_os = "macos")]
const UNREACHABLE: [i32; 2] = [51, 65];
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
const UNREACHABLE: [i32; 0] = [];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::StaticResolver;

    /// Refused, timed out and unreachable errors are told apart; others keep their text.
    #[test]
    fn classifies_errors() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(classify(&refused), DialError::Refused);
        assert_eq!(
            classify(&io::Error::from(io::ErrorKind::TimedOut)),
            DialError::TimedOut
        );
        #[cfg(target_os = "linux")]
        {
            assert_eq!(
                classify(&io::Error::from_raw_os_error(113)),
                DialError::Unreachable
            );
            assert_eq!(
                classify(&io::Error::from_raw_os_error(101)),
                DialError::Unreachable
            );
        }
        let other = io::Error::new(io::ErrorKind::PermissionDenied, "not allowed");
        assert_eq!(classify(&other), DialError::Other("not allowed".into()));
    }

    /// IP hosts skip the resolver; names use it; an unknown name or an empty
    /// answer is unresolvable.
    #[tokio::test]
    async fn resolves_names_only() {
        let t = Duration::from_secs(1);
        let table = StaticResolver::new()
            .with(
                "two.test",
                ["127.0.0.2".parse().unwrap(), "::1".parse().unwrap()],
            )
            .with("none.test", []);
        let got = addresses(&table, &PeerAddr::new("two.test", 7000), t).await;
        let want: Vec<SocketAddr> = vec![
            "127.0.0.2:7000".parse().unwrap(),
            "[::1]:7000".parse().unwrap(),
        ];
        assert_eq!(got, Ok(want));
        let ip = addresses(&table, &PeerAddr::new("::ffff:192.0.2.1", 7), t).await;
        assert_eq!(ip, Ok(vec!["192.0.2.1:7".parse().unwrap()]));
        for name in ["none.test", "unknown.test"] {
            let got = addresses(&table, &PeerAddr::new(name, 7000), t).await;
            assert_eq!(got, Err(DialError::Unresolvable), "{name}");
        }
    }
}
