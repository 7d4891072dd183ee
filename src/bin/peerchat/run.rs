//! `peerchat run`: one headless node driven by stdin, reporting on stdout as JSON lines.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;
use peerchat::{Node, NodeHandle};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::args::NodeArgs;
use crate::storage_args::StorageArgs;

/// Messages `history` lists when no count is given.
const HISTORY_DEFAULT: usize = 20;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    storage: StorageArgs,
}

/// Writes one JSON object as a line on stdout.
fn emit(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

pub async fn run(args: RunArgs) -> Result<()> {
    let storage = args.storage.explicit();
    let args = args.node;
    let (id, new_id) = storage.id(args.id.as_deref(), || args.id_or_generated("node"));
    let builder = Node::builder(id.as_str())
        .listen(&args.listen)
        .config(args.config()?);
    let node = storage
        .apply(builder)?
        .start()
        .await
        .with_context(|| format!("starting node {id}"))?;
    if new_id {
        storage.keep_id(&id)?;
    }
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
            // The outcome arrives as a `delivered` or `timeout` event; a
            // message that cannot be sent at all is an `error` event.
            Some((peer, text)) => {
                let (node, peer, text) = (node.clone(), peer.to_string(), text.to_string());
                actix_rt::spawn(async move {
                    match node.send_to(peer, text).await {
                        Ok(_) | Err(peerchat::Error::DeliveryTimeout { .. }) => {}
                        Err(e) => error("msg", &e),
                    }
                });
                Ok(None)
            }
            None => return usage(line, "msg PEER TEXT"),
        },
        "test" => match rest.split_once(' ') {
            Some((peer, text)) => node
                .send_test(peer, text)
                .await
                .map(|()| Some(json!({"event": "sent_test", "to": peer}))),
            None => return usage(line, "test PEER TEXT"),
        },
        "metrics" => node
            .metrics()
            .await
            .map(|m| Some(json!({"event": "metrics", "metrics": m}))),
        "history" => {
            let n = match rest {
                "" => HISTORY_DEFAULT,
                n => match n.parse::<usize>() {
                    Ok(n) => n,
                    Err(_) => return usage(line, "history [N]"),
                },
            };
            node.history(n)
                .await
                .map(|m| Some(json!({"event": "history", "messages": m})))
        }
        _ => return usage(
            line,
            "join ADDR | broadcast TEXT | msg PEER TEXT | peers | request PEER | test PEER TEXT | metrics | history [N] | quit",
        ),
    };
    match result {
        Ok(Some(v)) => emit(&v),
        Ok(None) => {}
        Err(e) => error(verb, &e),
    }
    true
}

/// Reports a command that failed, by its verb (not the whole line, which
/// may be a 100 KB message); the node goes on.
fn error(verb: &str, e: &peerchat::Error) {
    emit(&json!({"event": "error", "command": verb, "message": e.to_string()}));
}

/// Reports a command that could not be understood; the node goes on.
fn usage(line: &str, expected: &str) -> bool {
    let verb = line.split_once(' ').map_or(line, |(verb, _)| verb);
    emit(&json!({"event": "error", "command": verb, "message": format!("usage: {expected}")}));
    true
}
