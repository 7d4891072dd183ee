//! `peerchat`: the command-line program (chat, run, demo). The only place that prints.

mod args;
mod chat;
mod chat_input;
mod demo;
mod dial_report;
mod progress;
mod run;
mod sim;
mod storage_args;
mod tree_args;

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// A peer-to-peer chat node.
#[derive(Debug, Parser)]
#[command(
    name = "peerchat",
    version,
    about,
    after_help = "Documents (in the source repository): docs/PROTOCOL.md (the wire protocol and the \
                  `run` event stream), docs/DESIGN.md, docs/BENCH.md (the `sim` workloads), README.md."
)]
struct Cli {
    /// More logging on stderr (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The interactive chat: plain lines broadcast, /help lists commands.
    Chat(chat::ChatArgs),
    /// One headless node: commands on stdin, events on stdout as JSON lines.
    Run(run::RunArgs),
    /// A few nodes in one process connect, chat and shut down, printing what happens.
    Demo(demo::DemoArgs),
    /// Runs a simulation of many nodes in one process and prints a table (or --json).
    Sim(sim::SimArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let system = actix::System::new();
    let result = system.block_on(async move {
        match cli.command {
            Command::Chat(args) => chat::chat(args).await,
            Command::Run(args) => run::run(args).await,
            Command::Demo(args) => demo::demo(args).await,
            Command::Sim(args) => sim::sim(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("peerchat: {error:#}");
            // A data directory another process holds is a refusal of what
            // was asked, as a bad flag is (clap's code 2), not a failure.
            match error.downcast_ref::<peerchat::Error>() {
                Some(peerchat::Error::DataDirLocked { .. }) => std::process::ExitCode::from(2),
                _ => std::process::ExitCode::FAILURE,
            }
        }
    }
}

/// Logs go to stderr, warnings only unless asked, so they never mix with
/// output; coloured only when stderr is a terminal (a file or pipe gets plain text).
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(default));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .init();
}
