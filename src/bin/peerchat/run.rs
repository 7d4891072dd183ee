//! `peerchat run`: one headless node driven by stdin, reporting on stdout as JSON lines.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;
use std::time::Duration;

use peerchat::config::{self, NodeConfig};
use peerchat::{Node, NodeHandle};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// This node's id (default: a random one).
    #[arg(long)]
    id: Option<String>,
    /// Address to listen on; port 0 lets the OS choose.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Addresses to join at start (repeatable); retried while the node has no peers.
    #[arg(long)]
    bootstrap: Vec<String>,
    #[command(flatten)]
    limits: Limits,
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
            ..NodeConfig::default()
        }
    }
}

/// Writes one JSON object as a line on stdout.
fn emit(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

pub async fn run(args: RunArgs) -> Result<()> {
    let id = args
        .id
        .unwrap_or_else(|| format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    let node = Node::builder(id.as_str())
        .listen(&args.listen)
        .config(args.limits.config())
        .start()
        .await
        .with_context(|| format!("starting node {id}"))?;
    let mut events = node.events().await?;
    emit(&json!({"event": "listening", "id": id, "addr": node.local_addr().to_string()}));
    node.bootstrap(&args.bootstrap).await?;
    actix_rt::spawn(async move {
        while let Some(event) = events.next().await {
            emit(&serde_json::to_value(&event).unwrap_or(Value::Null));
        }
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    if !command(&node, line.trim()).await {
                        break;
                    }
                }
                Ok(None) | Err(_) => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    node.shutdown().await?;
    emit(&json!({"event": "stopped"}));
    Ok(())
}

/// Runs one stdin command; `false` means quit.
async fn command(node: &NodeHandle, line: &str) -> bool {
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    let result: peerchat::Result<Option<Value>> = match verb {
        "" => Ok(None),
        "quit" => return false,
        "join" => node.join(rest).await.map(|()| None),
        "broadcast" => node
            .broadcast(rest)
            .await
            .map(|id| Some(json!({"event": "sent", "id": id}))),
        "peers" => node
            .peers()
            .await
            .map(|p| Some(json!({"event": "peers", "peers": p}))),
        "request" => node.get_peers_from(rest).await.map(|()| None),
        "msg" => match rest.split_once(' ') {
            // The outcome arrives as a `delivered` or `timeout` event.
            Some((peer, text)) => {
                let (node, peer, text) = (node.clone(), peer.to_string(), text.to_string());
                actix_rt::spawn(async move {
                    if let Err(e @ peerchat::Error::Stopped) = node.send_to(peer, text).await {
                        emit(&json!({"event": "error", "command": "msg", "message": e.to_string()}));
                    }
                });
                Ok(None)
            }
            None => return usage(line, "msg PEER TEXT"),
        },
        "test" => match rest.split_once(' ') {
            Some((peer, text)) => node.send_test(peer, text).await.map(|()| None),
            None => return usage(line, "test PEER TEXT"),
        },
        "metrics" => node
            .metrics()
            .await
            .map(|m| Some(json!({"event": "metrics", "metrics": m}))),
        _ => return usage(
            line,
            "join ADDR | broadcast TEXT | msg PEER TEXT | peers | request PEER | test PEER TEXT | metrics | quit",
        ),
    };
    match result {
        Ok(Some(v)) => emit(&v),
        Ok(None) => {}
        Err(e) => emit(&json!({"event": "error", "command": line, "message": e.to_string()})),
    }
    true
}

/// Reports a command that could not be understood; the node goes on.
fn usage(line: &str, expected: &str) -> bool {
    emit(&json!({"event": "error", "command": line, "message": format!("usage: {expected}")}));
    true
}
