//! Flags every node-running command shares: identity, addresses, limits.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use peerchat::config::{self, NodeConfig};

/// Who the node is and where it listens.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// This node's id (default: a generated one).
    #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub id: Option<String>,
    /// Address to listen on, HOST:PORT; port 0 lets the OS choose.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:0", value_parser = listen_addr)]
    pub listen: String,
    /// Addresses to join at start (repeatable; HOST:PORT, HOST an IP or a
    /// DNS name resolved at each attempt); retried while the node has no peers.
    #[arg(long, value_name = "HOST:PORT", value_parser = dial_addr)]
    pub bootstrap: Vec<String>,
    /// The address peers should reach this node at (HOST:PORT), when it is not
    /// the listen address: behind NAT or a port mapping, or a DNS name. By
    /// default a node on 0.0.0.0 or [::] tells each peer the local IP that
    /// peer's connection arrived on.
    #[arg(long, value_name = "HOST:PORT")]
    pub advertise: Option<String>,
    /// Refuse plaintext links: only peers that complete the encrypted,
    /// authenticated handshake are served or dialled (no legacy peers).
    #[arg(long)]
    pub require_secure: bool,
    #[command(flatten)]
    pub limits: Limits,
}

/// `--bootstrap`: `host:port` syntax, checked before any node starts (a name
/// is resolved only when it is dialled).
fn dial_addr(s: &str) -> Result<String, String> {
    peerchat::parse_addr(s)
        .map(|_| s.trim().to_string())
        .map_err(|e| e.to_string())
}

/// `--listen`: as `--bootstrap`, port 0 allowed.
fn listen_addr(s: &str) -> Result<String, String> {
    peerchat::parse_listen_addr(s)
        .map(|_| s.trim().to_string())
        .map_err(|e| e.to_string())
}

impl NodeArgs {
    /// The node configuration: the limits, and the address to advertise.
    pub fn config(&self) -> Result<NodeConfig> {
        let mut config = self.limits.config();
        if let Some(addr) = &self.advertise {
            let addr = peerchat::parse_addr(addr).context("--advertise")?;
            config.advertise = Some(addr);
        }
        config.require_secure = self.require_secure;
        Ok(config)
    }

    /// The id given, or `prefix-` and a few random hex digits.
    pub fn id_or_generated(&self, prefix: &str) -> String {
        self.id.clone().unwrap_or_else(|| {
            format!(
                "{prefix}-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..6]
            )
        })
    }
}

/// The main limits and intervals (defaults as in PROTOCOL.md).
#[derive(Debug, Args)]
pub struct Limits {
    /// Probe quiet peers this often (ms).
    #[arg(long, value_name = "MS", default_value_t = ms(config::PING_INTERVAL))]
    ping_interval_ms: u64,
    /// Drop a peer silent this long (ms).
    #[arg(long, value_name = "MS", default_value_t = ms(config::PEER_TIMEOUT))]
    peer_timeout_ms: u64,
    /// Close a connection with no valid hello after this long (ms).
    #[arg(long, value_name = "MS", default_value_t = ms(config::HANDSHAKE_TIMEOUT))]
    handshake_timeout_ms: u64,
    /// Give up a dial after this long (ms).
    #[arg(long, value_name = "MS", default_value_t = ms(config::CONNECT_TIMEOUT))]
    connect_timeout_ms: u64,
    /// First redial delay of a dropped peer (ms); doubles per attempt.
    #[arg(long, value_name = "MS", default_value_t = ms(config::REDIAL_BASE))]
    redial_base_ms: u64,
    /// Redials of a dropped peer before giving up.
    #[arg(long, value_name = "N", default_value_t = config::REDIAL_ATTEMPTS)]
    redial_attempts: u32,
    /// Most registered peers.
    #[arg(long, value_name = "N", default_value_t = config::MAX_PEERS)]
    max_peers: usize,
    /// Wait this long for a direct message's ack (ms).
    #[arg(long, value_name = "MS", default_value_t = ms(config::DIRECT_TIMEOUT))]
    direct_timeout_ms: u64,
    /// Number no broadcasts, keep no history and do not catch up (the `seq`
    /// capability off, as before protocol 4).
    #[arg(long)]
    pub no_feeds: bool,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl Limits {
    /// The node configuration these flags describe.
    pub fn config(&self) -> NodeConfig {
        NodeConfig {
            ping_interval: Duration::from_millis(self.ping_interval_ms),
            peer_timeout: Duration::from_millis(self.peer_timeout_ms),
            handshake_timeout: Duration::from_millis(self.handshake_timeout_ms),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            redial_base: Duration::from_millis(self.redial_base_ms),
            redial_attempts: self.redial_attempts,
            max_peers: self.max_peers,
            direct_timeout: Duration::from_millis(self.direct_timeout_ms),
            history: if self.no_feeds {
                config::HistoryConfig::off()
            } else {
                config::HistoryConfig::default()
            },
            ..NodeConfig::default()
        }
    }
}
