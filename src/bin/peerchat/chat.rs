//! `peerchat chat`: the interactive terminal chat.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use peerchat::config::ONE_SHOT_MAX_FRAME;
use peerchat::proto::{types, Frame, NodeKey, Trust};
use peerchat::{Envelope, Error, Event, MessageId, Node, NodeHandle, PeerAddr, PeerId, WireTime};
use rustyline::error::ReadlineError;
use rustyline::ExternalPrinter;
use tokio::sync::mpsc;

use crate::args::NodeArgs;
use crate::chat_input::{parse, Input, HELP};
use crate::dial_report::{DialReport, LEARNED_SUMMARY_EVERY};
use crate::storage_args::{Storage, StorageArgs};

/// How long `/request` waits for answers before saying that none named a
/// new peer: `ADVERTISE_REPLY` frames have no end marker, and they come
/// back within a round trip (milliseconds, even from original peers).
const REQUEST_WINDOW: Duration = Duration::from_secs(1);

/// Messages `/history` shows when no count is given.
const HISTORY_DEFAULT: usize = 20;

#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    node: NodeArgs,
    #[command(flatten)]
    storage: StorageArgs,
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
    let storage = args.storage.or_default(args.node.id.as_deref())?;
    let args = args.node;
    let (id, new_id) = storage.id(args.id.as_deref(), || args.id_or_generated("guest"));
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
    let (lines_tx, mut lines) = mpsc::unbounded_channel();
    let (handled, handled_rx) = std::sync::mpsc::channel();
    let screen = spawn_line_reader(&id, lines_tx, handled_rx);
    screen.line(format!(
        "you are {id} [{}], listening on {}",
        node.key().fingerprint(),
        node.local_addr()
    ));
    screen.line(format!("  {}", storage.describe()));
    let join = join_hint(node.advertised_addr());
    screen.line(format!(
        "others join with: {} chat --bootstrap {join}   (or /join {join}); /help lists commands",
        own_command()
    ));
    let mut dials = DialReport::default();
    for addr in &args.bootstrap {
        if let Ok(addr) = peerchat::parse_addr(addr) {
            dials.user_gave(addr);
        }
    }
    // Without addresses given, the peers of earlier runs are tried.
    let bootstrap = match args.bootstrap.is_empty() {
        true => node.known_peers().iter().map(|a| a.to_string()).collect(),
        false => args.bootstrap.clone(),
    };
    if args.bootstrap.is_empty() && !bootstrap.is_empty() {
        screen.line(format!(
            "  rejoining peers known from before: {}",
            bootstrap.join(", ")
        ));
    }
    if let Err(e) = node.bootstrap(&bootstrap).await {
        screen.line(format!("! {e}"));
    }
    let mut request: Option<Request> = None;
    let start = tokio::time::Instant::now() + LEARNED_SUMMARY_EVERY;
    let mut summary = tokio::time::interval_at(start, LEARNED_SUMMARY_EVERY);
    loop {
        let answers_due = request.as_ref().map(|r| r.until);
        tokio::select! {
            event = events.next() => match event {
                Some(event) => {
                    if let Some(r) = &mut request {
                        r.saw(&event);
                    }
                    show(&screen, &mut dials, &event)
                }
                None => break,
            },
            input = lines.recv() => {
                match input {
                    Some(Ok(Input::Quit)) | None => break,
                    Some(Ok(Input::Request(peer))) => {
                        if let Some(asked) = ask(&node, &screen, peer, &id).await {
                            request = Some(asked);
                        }
                    }
                    Some(Ok(Input::History(n))) => history(&node, &screen, &storage, n).await,
                    Some(Ok(input)) => run(&node, &screen, &mut dials, &id, input).await,
                    Some(Err(reason)) => screen.line(format!("! {reason}")),
                }
                // Its output is out: the reader may draw the next prompt.
                let _ = handled.send(());
            }
            _ = summary.tick() => {
                if let Some(line) = dials.summary() {
                    screen.event(line);
                }
            }
            _ = sleep_until(answers_due), if answers_due.is_some() => {
                if let Some(r) = request.take() {
                    r.finish(&screen);
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

/// Sleeps until `at`; never returns without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A `/request` waiting for its answers.
struct Request {
    /// Who was asked.
    peer: PeerId,
    /// This node and the peers it knew when it asked, and those named since.
    known: HashSet<PeerId>,
    /// Peers named that this node did not know.
    new: usize,
    /// When to stop waiting.
    until: tokio::time::Instant,
}

impl Request {
    fn saw(&mut self, event: &Event) {
        if let Event::PeerAdvertised { by, peer, .. } = event {
            if by == &self.peer && self.known.insert(peer.clone()) {
                self.new += 1;
            }
        }
    }

    fn finish(self, screen: &Screen) {
        if self.new == 0 {
            screen.line(format!(
                "  nothing new: {} knows no peer that you do not know already",
                self.peer
            ));
        }
    }
}

/// `/request PEER`: asks, and notes whom this node knew, to tell later whether the answers brought anyone new.
async fn ask(node: &NodeHandle, screen: &Screen, peer: String, me: &str) -> Option<Request> {
    let mut known: HashSet<PeerId> = match node.peers().await {
        Ok(peers) => peers.into_iter().map(|p| p.id).collect(),
        Err(e) => {
            screen.line(format!("! {e}"));
            return None;
        }
    };
    known.insert(PeerId::new(me));
    if let Err(e) = node.get_peers_from(peer.as_str()).await {
        screen.line(format!("! {e}"));
        return None;
    }
    Some(Request {
        peer: PeerId::new(peer),
        known,
        new: 0,
        until: tokio::time::Instant::now() + REQUEST_WINDOW,
    })
}

/// The address others should join: what the node advertises, or, on
/// `0.0.0.0`/`[::]`, a placeholder for this host's address with the port.
fn join_hint(advertised: &PeerAddr) -> String {
    match advertised.host().parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_unspecified() => format!("THIS_HOST:{}", advertised.port()),
        _ => advertised.to_string(),
    }
}

/// Reads lines on a thread of its own (line editing blocks); each arrives
/// parsed. At a terminal the next prompt is drawn only once the main loop
/// says the line was `handled`, so what a command prints comes before it,
/// not raced against it; and none is drawn after `/quit`.
fn spawn_line_reader(
    id: &str,
    tx: mpsc::UnboundedSender<Result<Input, String>>,
    handled: std::sync::mpsc::Receiver<()>,
) -> Screen {
    let editor = rustyline::DefaultEditor::new();
    let Ok(mut editor) = editor else {
        // No line editor (unusual terminal): plain lines from stdin.
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                let input = parse(&line);
                let quit = input == Ok(Input::Quit);
                if tx.send(input).is_err() || quit {
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
                let input = parse(&line);
                let quit = input == Ok(Input::Quit);
                if tx.send(input).is_err() || quit || handled.recv().is_err() {
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
        Event::PeerConnected { peer, addr, .. } => {
            dials.on_event(event);
            screen.event(format!("* {peer} joined ({addr})"))
        }
        Event::PeerDisconnected { peer, reason, .. } => {
            screen.event(format!("* {peer} left ({reason})"))
        }
        Event::Direct {
            from, text, trust, ..
        } => screen.event(format!("*{from}*{} (to you) {text}", mark(*trust))),
        Event::Broadcast {
            from,
            text,
            trust,
            late,
            ..
        } => {
            // Caught up after the fact: marked as history, not live chat.
            let history = if *late { "(history) " } else { "" };
            screen.event(format!("{history}<{from}>{} {text}", mark(*trust)))
        }
        Event::Delivered { to, round_trip, .. } => {
            screen.event(format!("✓ delivered to {to} ({:.1?})", round_trip))
        }
        Event::DeliveryTimeout { to, .. } => {
            screen.event(format!("✗ {to} did not acknowledge: not delivered"))
        }
        // Told once by the node, at the first failed write.
        Event::StorageFailed { .. } => screen.event(format!("! {event}")),
        other => screen.event(other),
    }
}

/// What a line from a name shows besides it: nothing when signed by the
/// key pinned for it (or the first one seen), else a visible warning.
fn mark(trust: Trust) -> &'static str {
    match trust {
        Trust::Pinned | Trust::New => "",
        Trust::Conflict => " [CONFLICT: another key than the one pinned for this name]",
        Trust::Unsigned => " [unsigned]",
    }
}

/// `/whois NAME`: the pinned key's fingerprint and the others seen.
async fn whois(node: &NodeHandle, screen: &Screen, name: String) -> peerchat::Result<()> {
    let pins = node.pins().await?;
    let name = PeerId::new(name);
    match pins.get(&name) {
        Some(key) => screen.line(format!("  {name}: pinned {}", key.fingerprint())),
        None => screen.line(format!("  {name}: no key pinned")),
    }
    for key in pins.others(&name) {
        screen.line(format!(
            "  {name}: also seen {} (conflict)",
            key.fingerprint()
        ));
    }
    Ok(())
}

/// `/trust NAME FP`: pins NAME to a key seen under it with that fingerprint (or given in hex).
async fn trust(
    node: &NodeHandle,
    screen: &Screen,
    name: String,
    fingerprint: String,
) -> peerchat::Result<()> {
    let name = PeerId::new(name);
    let key = node.pins().await?.find(&name, &fingerprint);
    let key = key.or_else(|| NodeKey::from_hex(&fingerprint).ok());
    match key {
        Some(key) => {
            node.trust(name.clone(), key).await?;
            screen.line(format!("  {name} is now pinned to {}", key.fingerprint()));
        }
        None => screen.line(format!(
            "! no key with fingerprint {fingerprint} seen under {name}; /whois {name} lists them"
        )),
    }
    Ok(())
}

async fn run(node: &NodeHandle, screen: &Screen, dials: &mut DialReport, me: &str, input: Input) {
    let result = match input {
        // `/request` is the loop's: it waits for the answers; `/history` too.
        Input::Nothing | Input::Quit | Input::Request(_) | Input::History(_) => Ok(()),
        Input::Say(text) => say(node, screen, me, text).await,
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
                // Its own key (namesakes differ here), marked when it is not the name's pin.
                let fp = match (p.known_key.map(|k| k.fingerprint()), p.fingerprint) {
                    (Some(own), Some(pin)) if own != pin => format!("{own} (conflict)"),
                    (Some(own), _) => own,
                    (None, Some(pin)) => pin,
                    (None, None) => "(no key pinned)".to_string(),
                };
                screen.line(format!(
                    "  {:<12} {:<22} {fp:<19} connected {}{kind}",
                    p.id,
                    p.addr.to_string(),
                    ago(p.connected_for)
                ));
            }
        }),
        Input::Msg { peer, text } => {
            // The outcome arrives as a Delivered or DeliveryTimeout event; a
            // message that cannot be sent at all is said here.
            let (node, screen) = (node.clone(), screen.clone());
            actix_rt::spawn(async move {
                match node.send_to(peer, text).await {
                    Ok(_) | Err(Error::DeliveryTimeout { .. }) => {}
                    Err(e) => screen.line(format!("! {e}")),
                }
            });
            Ok(())
        }
        Input::Whois(name) => whois(node, screen, name).await,
        Input::Trust { name, fingerprint } => trust(node, screen, name, fingerprint).await,
        Input::Forget(name) => node.forget(name.clone()).await.map(|()| {
            screen.line(format!(
                "  {name} forgotten: its next signed message pins it again"
            ))
        }),
        Input::Help => {
            // One line at a time: the line editor prints each above the prompt.
            for line in HELP.lines() {
                screen.line(line);
            }
            Ok(())
        }
    };
    if let Err(e) = result {
        screen.line(format!("! {e}"));
    }
}

/// `/history [N]`: the newest N messages kept in the data directory.
async fn history(node: &NodeHandle, screen: &Screen, storage: &Storage, n: Option<usize>) {
    match node.history(n.unwrap_or(HISTORY_DEFAULT)).await {
        Ok(entries) if entries.is_empty() => screen.line(match storage.dir {
            Some(_) => "  no messages kept yet",
            None => "  no history: nothing is kept without a data directory (--ephemeral)",
        }),
        Ok(entries) => {
            for entry in entries {
                screen.line(format!("  {entry}"));
            }
        }
        Err(e) => screen.line(format!("! {e}")),
    }
}

/// Broadcasts a line; warns when original peers cannot read it, and, with
/// no peer connected, says that nobody got it yet.
async fn say(node: &NodeHandle, screen: &Screen, me: &str, text: String) -> peerchat::Result<()> {
    let len = broadcast_frame_len(me, &text);
    node.broadcast(text).await?;
    if len > ONE_SHOT_MAX_FRAME {
        screen.line(format!(
            "  note: this message is {len} bytes on the wire; original peers read {ONE_SHOT_MAX_FRAME} bytes at most and do not get it"
        ));
    }
    if node.peers().await?.is_empty() {
        screen.line(
            "! no peer is connected: nobody got that yet; peerchat nodes that join later catch up on it, unless --no-feeds (/join HOST:PORT)",
        );
    }
    Ok(())
}

/// Bytes of the `BROADCAST` frame that `text` from `me` makes (its `time`,
/// `id`, key, signature and 20-digit nonce always have the same length), as
/// the peers receive it.
fn broadcast_frame_len(me: &str, text: &str) -> usize {
    let time = WireTime::Text("2026-01-01T00:00:00.000Z".to_string());
    let mut env = Envelope::new(types::BROADCAST, text.into(), PeerId::new(me), time);
    env.id = Some(MessageId::from_u128(0));
    env.nonce = Some(u64::MAX);
    let any_key = peerchat::proto::Identity::from_secret([0; 32]);
    if peerchat::proto::sign::sign_envelope(&any_key, &mut env).is_err() {
        return 0;
    }
    Frame::encode(env).map_or(0, |f| f.bytes().len())
}

fn ago(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// How another terminal on this host starts this same program: `peerchat`
/// when that name on `PATH` is this binary, else this binary's full path
/// (run through `cargo run`, or from `target/release`).
fn own_command() -> String {
    let exe = std::env::current_exe().and_then(std::fs::canonicalize);
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("peerchat"))
            .find(|candidate| candidate.is_file())
    });
    match (exe, on_path) {
        (Ok(exe), Some(found)) if std::fs::canonicalize(&found).ok().as_ref() == Some(&exe) => {
            "peerchat".to_string()
        }
        (Ok(exe), _) => exe.display().to_string(),
        (Err(_), _) => "peerchat".to_string(),
    }
}
