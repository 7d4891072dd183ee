//! Name resolution for dials: the [`Resolver`] a node asks at each dial attempt (the system's, or a fixed table).
//!
//! A [`PeerAddr`](crate::PeerAddr) keeps its host as text. When it is not an
//! IP literal, the RegistryActor asks the node's resolver for its addresses
//! at every attempt (so a redial sees a changed record) and tries each in
//! turn. Tests plug in a [`StaticResolver`] so that no query leaves the machine.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// The answer of a [`Resolver`]: the addresses of a name, in the order to try them.
pub type Resolving = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Turns a host name into addresses. IP literals never reach it.
pub trait Resolver: Send + Sync + 'static {
    /// The addresses of `host`, in the order to try them. An error or an
    /// empty list makes the dial fail as unresolvable.
    fn resolve(&self, host: &str) -> Resolving;
}

/// The operating system's resolver (`getaddrinfo`, through
/// `tokio::net::lookup_host`): `/etc/hosts`, then DNS, as the system is set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str) -> Resolving {
        let host = host.to_string();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(found.map(|a| a.ip()).collect())
        })
    }
}

/// A fixed table of names, changeable while nodes use it (clones share the
/// table). Names are matched without regard to case; a name not in the table
/// does not resolve. For tests, and for networks whose hosts are known.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    table: Arc<Mutex<HashMap<String, Vec<IpAddr>>>>,
}

impl StaticResolver {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The table with `name` resolving to `addrs` (an empty list: to nothing).
    pub fn with(self, name: &str, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.set(name, addrs);
        self
    }

    /// Makes `name` resolve to `addrs` from now on.
    pub fn set(&self, name: &str, addrs: impl IntoIterator<Item = IpAddr>) {
        let addrs = addrs.into_iter().collect();
        self.lock().insert(name.to_ascii_lowercase(), addrs);
    }

    /// Makes `name` stop resolving.
    pub fn remove(&self, name: &str) {
        self.lock().remove(&name.to_ascii_lowercase());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<IpAddr>>> {
        // A panic while the lock was held cannot leave the map half-changed
        // (each change is one insert or remove), so a poisoned lock is usable.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Resolver for StaticResolver {
    fn resolve(&self, host: &str) -> Resolving {
        let found = self.lock().get(&host.to_ascii_lowercase()).cloned();
        Box::pin(async move {
            found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "name not in the table"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names resolve as set, case-insensitively; changes are seen by clones; unknown names fail.
    #[tokio::test]
    async fn static_table() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let table = StaticResolver::new().with("Seed.Test", [lo]);
        let clone = table.clone();
        assert_eq!(clone.resolve("seed.test").await.unwrap(), vec![lo]);
        table.set("seed.test", []);
        assert_eq!(
            clone.resolve("SEED.TEST").await.unwrap(),
            Vec::<IpAddr>::new()
        );
        table.remove("seed.test");
        let error = clone.resolve("seed.test").await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
