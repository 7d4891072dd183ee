//! `peerchat chat`: the interactive terminal chat.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use peerchat::{Event, Node, NodeHandle, PeerAddr};
use rustyline::error::ReadlineError;
use rustyline::ExternalPrinter;
use tokio::sync::mpsc;

use crate::args::NodeArgs;
use crate::chat_input::{parse, Input, HELP};
use crate::dial_report::{DialReport, LEARNED_SUMMARY_EVERY};

#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    node: NodeArgs,
}

/// Where chat output goes: above the prompt when a terminal line editor runs,
/// else plain stdout (pipes, tests).
#[derive(Clone)]
struct Screen {
    printer: Option<Arc<Mutex<Box<dyn ExternalPrinter + Send>>>>,
}

impl Screen {
    fn line(&self, text: impl Into<String>) {
        let text = text.into();
        if let Some(printer) = &self.printer {
            if let Ok(mut p) = printer.lock() {
                if p.print(format!("{text}\n")).is_ok() {
                    return;
                }
            }
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// A line stamped with the local time.
    fn event(&self, text: impl std::fmt::Display) {
        self.line(format!(
            "[{}] {text}",
            chrono::Local::now().format("%H:%M:%S")
        ));
    }
}

pub async fn chat(args: ChatArgs) -> Result<()> {
    let args = args.node;
    let id = args.id_or_generated("guest");
    let node = Node::builder(id.as_str())
        .listen(&args.listen)
        .config(args.config()?)
        .start()
        .await
        .with_context(|| format!("cannot start a node on {}", args.listen))?;
    let mut events = node.events().await?;
    let (lines_tx, mut lines) = mpsc::unbounded_channel();
    let screen = spawn_line_reader(&id, lines_tx);
    screen.line(format!("you are {id}, listening on {}", node.local_addr()));
    let join = join_hint(node.advertised_addr());
    screen.line(format!(
        "others join with: peerchat chat --bootstrap {join}   (or /join {join}); /help lists commands"
    ));
    let mut dials = DialReport::default();
    for addr in &args.bootstrap {
        if let Ok(addr) = peerchat::parse_addr(addr) {
            dials.user_gave(addr);
        }
    }
    if let Err(e) = node.bootstrap(&args.bootstrap).await {
        screen.line(format!("! {e}"));
    }
    let start = tokio::time::Instant::now() + LEARNED_SUMMARY_EVERY;
    let mut summary = tokio::time::interval_at(start, LEARNED_SUMMARY_EVERY);
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(event) => show(&screen, &mut dials, &event),
                None => break,
            },
            input = lines.recv() => match input {
                Some(Ok(Input::Quit)) | None => break,
                Some(Ok(input)) => run(&node, &screen, &mut dials, input).await,
                Some(Err(reason)) => screen.line(format!("! {reason}")),
            },
            _ = summary.tick() => {
                if let Some(line) = dials.summary() {
                    screen.event(line);
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    screen.line("leaving...");
    node.shutdown().await?;
    screen.line("bye");
    Ok(())
}

/// The address others should join: what the node advertises, or, on
/// `0.0.0.0`/`[::]`, a placeholder for this host's address with the port.
fn join_hint(advertised: &PeerAddr) -> String {
    match advertised.host().parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_unspecified() => format!("THIS_HOST:{}", advertised.port()),
        _ => advertised.to_string(),
    }
}

/// Reads lines on a thread of its own (line editing blocks); each arrives parsed.
fn spawn_line_reader(id: &str, tx: mpsc::UnboundedSender<Result<Input, String>>) -> Screen {
    let editor = rustyline::DefaultEditor::new();
    let Ok(mut editor) = editor else {
        // No line editor (unusual terminal): plain lines from stdin.
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if tx.send(parse(&line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Ok(Input::Quit));
        });
        return Screen { printer: None };
    };
    let printer = editor
        .create_external_printer()
        .ok()
        .map(|p| Arc::new(Mutex::new(Box::new(p) as Box<dyn ExternalPrinter + Send>)));
    let prompt = format!("{id}> ");
    std::thread::spawn(move || loop {
        match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                if tx.send(parse(&line)).is_err() {
                    return;
                }
            }
            Err(ReadlineError::Interrupted) | Err(ReadlineError::Eof) | Err(_) => {
                let _ = tx.send(Ok(Input::Quit));
                return;
            }
        }
    });
    Screen { printer }
}

fn show(screen: &Screen, dials: &mut DialReport, event: &Event) {
    match event {
        Event::DialFailed { .. } => {
            if let Some(line) = dials.on_event(event) {
                screen.event(line);
            }
        }
        Event::PeerConnected { peer, addr } => {
            dials.on_event(event);
            screen.event(format!("* {peer} joined ({addr})"))
        }
        Event::PeerDisconnected { peer, reason } => {
            screen.event(format!("* {peer} left ({reason})"))
        }
        Event::Direct { from, text, .. } => screen.event(format!("*{from}* (to you) {text}")),
        Event::Delivered { to, round_trip, .. } => {
            screen.event(format!("✓ delivered to {to} ({:.1?})", round_trip))
        }
        Event::DeliveryTimeout { to, .. } => {
            screen.event(format!("✗ {to} did not acknowledge: not delivered"))
        }
        other => screen.event(other),
    }
}

async fn run(node: &NodeHandle, screen: &Screen, dials: &mut DialReport, input: Input) {
    let result = match input {
        Input::Nothing | Input::Quit => Ok(()),
        Input::Say(text) => say(node, screen, text).await,
        Input::Join(addr) => {
            if let Ok(parsed) = peerchat::parse_addr(&addr) {
                dials.user_gave(parsed);
            }
            node.join(&addr)
                .await
                .map(|()| screen.line(format!("joining {addr}...")))
        }
        Input::Peers => node.peers().await.map(|peers| {
            if peers.is_empty() {
                screen.line("no peers yet; /join HOST:PORT");
            }
            for p in peers {
                let kind = if p.one_shot { ", original peer" } else { "" };
                screen.line(format!(
                    "  {:<12} {:<22} connected {}{kind}",
                    p.id,
                    p.addr.to_string(),
                    ago(p.connected_for)
                ));
            }
        }),
        Input::Request(peer) => node.get_peers_from(peer.as_str()).await,
        Input::Msg { peer, text } => {
            // The outcome arrives as a Delivered or DeliveryTimeout event.
            let node = node.clone();
            actix_rt::spawn(async move {
                let _ = node.send_to(peer, text).await;
            });
            Ok(())
        }
        Input::Help => {
            screen.line(HELP);
            Ok(())
        }
    };
    if let Err(e) = result {
        screen.line(format!("! {e}"));
    }
}

/// Broadcasts a line; with no peer connected, says that nobody got it.
async fn say(node: &NodeHandle, screen: &Screen, text: String) -> peerchat::Result<()> {
    node.broadcast(text).await?;
    if node.peers().await?.is_empty() {
        screen.line(
            "! no peer is connected: nobody got that, and it is not kept for later (/join HOST:PORT)",
        );
    }
    Ok(())
}

fn ago(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
