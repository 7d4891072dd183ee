//! Drives the real `peerchat chat` binary through pipes, as a person would type.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const WAIT: Duration = Duration::from_secs(10);

struct Chat {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Chat {
    /// Starts `peerchat chat ARGS`, with `--ephemeral` unless ARGS name a
    /// `--data-dir`: a test never writes to the user's data directory.
    async fn start(args: &[&str]) -> Chat {
        let ephemeral: &[&str] = if args.contains(&"--data-dir") {
            &[]
        } else {
            &["--ephemeral"]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_peerchat"))
            .arg("chat")
            .args(ephemeral)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn peerchat chat");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Chat {
            child,
            stdin: Some(stdin),
            stdout,
        }
    }

    async fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    /// Reads lines until one contains `needle`, for at most `within`;
    /// `None` if none did by then.
    async fn line_within(&mut self, needle: &str, within: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let line = tokio::time::timeout_at(deadline, self.stdout.next_line())
                .await
                .ok()?
                .unwrap()?;
            if line.contains(needle) {
                return Some(line);
            }
        }
    }

    /// Reads output until a line contains `needle`; returns that line.
    async fn wait_for(&mut self, needle: &str) -> String {
        loop {
            let line = tokio::time::timeout(WAIT, self.stdout.next_line())
                .await
                .unwrap_or_else(|_| panic!("no line with {needle:?} in time"))
                .unwrap()
                .unwrap_or_else(|| panic!("output ended before {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }
}

/// Two chats: the second joins the address the first printed; they talk both
/// ways, list peers, message directly, and one leaving is seen by the other.
#[tokio::test]
async fn two_chats_talk_and_leave() {
    let mut alice = Chat::start(&["--id", "alice"]).await;
    let banner = alice.wait_for("listening on").await;
    let addr = banner.rsplit(' ').next().unwrap().to_string();
    let mut bob = Chat::start(&["--id", "bob", "--bootstrap", &addr]).await;
    alice.wait_for("bob joined").await;
    bob.wait_for("alice joined").await;

    alice.type_line("hello bob").await;
    assert!(bob.wait_for("<alice>").await.ends_with("<alice> hello bob"));
    bob.type_line("hi alice").await;
    assert!(alice.wait_for("<bob>").await.ends_with("<bob> hi alice"));

    bob.type_line("/peers").await;
    assert!(bob.wait_for(&addr).await.contains("alice"));
    alice.type_line("/msg bob only for you").await;
    assert!(bob.wait_for("(to you)").await.ends_with("only for you"));
    alice.wait_for("delivered to bob").await;

    alice.type_line("/quit").await;
    alice.wait_for("bye").await;
    assert!(alice.child.wait().await.unwrap().success());
    bob.wait_for("alice left").await;
    bob.stdin = None; // end of input, as Ctrl-D
    bob.wait_for("bye").await;
    assert!(bob.child.wait().await.unwrap().success());
}

/// A wrong command or a bad address gets a one-line explanation, not a crash.
#[tokio::test]
async fn mistakes_get_one_line_answers() {
    let mut c = Chat::start(&["--id", "carol"]).await;
    c.wait_for("listening on").await;
    c.type_line("/frobnicate").await;
    assert!(c
        .wait_for("! ")
        .await
        .contains("unknown command /frobnicate"));
    c.type_line("/join nowhere").await;
    assert!(c.wait_for("! ").await.contains("invalid address"));
    c.type_line("/msg").await;
    assert!(c.wait_for("! ").await.contains("usage: /msg PEER TEXT"));
    c.type_line("/request ghost").await;
    assert!(c.wait_for("! ").await.contains("unknown peer ghost"));
    c.type_line("/quit").await;
    c.wait_for("bye").await;
    assert!(c.child.wait().await.unwrap().success());
}

/// A `--listen` or `--bootstrap` that is not `host:port` is refused before
/// any node starts: a clear error, nothing printed on stdout, a failing exit code.
#[tokio::test]
async fn bad_addresses_are_a_clear_error() {
    for (flag, bad) in [("--listen", "not-an-address"), ("--bootstrap", "foo:bar")] {
        let out = Command::new(env!("CARGO_BIN_EXE_peerchat"))
            .args(["chat", "--ephemeral", flag, bad])
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {bad}");
        assert!(out.stdout.is_empty(), "a node started: {:?}", out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!(
                "error: invalid value '{bad}' for '{flag} <HOST:PORT>': invalid address \"{bad}\""
            )),
            "{err}"
        );
    }
}

/// A port already taken: one line, the OS's reason once, a failing exit code.
#[tokio::test]
async fn port_in_use_is_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_peerchat"))
        .args(["chat", "--ephemeral", "--id", "late", "--listen", &addr])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "peerchat: starting node late: cannot listen on {addr}: "
        )),
        "{err}"
    );
    assert_eq!(err.matches("in use").count(), 1, "{err}");
}

/// A line too large to send is one `!` line and the link stays up; one past
/// what original peers read gets a note; a `/request` that brings nobody new says so.
#[tokio::test]
async fn too_large_lines_and_empty_requests_are_said() {
    let mut alice = Chat::start(&["--id", "alice"]).await;
    let banner = alice.wait_for("listening on").await;
    let addr = banner.rsplit(' ').next().unwrap().to_string();
    let mut bob = Chat::start(&["--id", "bob", "--bootstrap", &addr]).await;
    alice.wait_for("bob joined").await;
    bob.wait_for("alice joined").await;

    alice.type_line(&"x".repeat(70_000)).await;
    let said = alice.wait_for("! ").await;
    assert!(
        said.starts_with("! message too large: its frame would be "),
        "{said}"
    );
    alice
        .type_line(&format!("/msg bob {}", "y".repeat(70_000)))
        .await;
    assert!(alice
        .wait_for("! ")
        .await
        .starts_with("! message too large"));

    let long = "z".repeat(2_100);
    alice.type_line(&long).await;
    let note = alice.wait_for("note:").await;
    assert!(
        note.contains("original peers read 2048 bytes at most"),
        "{note}"
    );
    assert!(bob.wait_for("<alice>").await.ends_with(&long));

    alice.type_line("/request bob").await;
    let said = alice.wait_for("nothing new").await;
    assert!(
        said.contains("bob knows no peer that you do not know already"),
        "{said}"
    );
    alice.type_line("/quit").await;
    alice.wait_for("bye").await;
    bob.type_line("/quit").await;
    bob.wait_for("bye").await;
}

/// At a terminal (a pty made by `script`): `/help` is aligned, and after
/// `/quit` the goodbye is printed and no prompt is drawn again.
#[tokio::test]
async fn at_a_terminal_help_is_aligned_and_quit_draws_no_prompt() {
    let bin = env!("CARGO_BIN_EXE_peerchat");
    let mut child = Command::new("script")
        .args([
            "-qfec",
            &format!("{bin} chat --ephemeral --id zed"),
            "/dev/null",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("script(1) from util-linux makes the pty");
    let mut chat = Chat {
        stdin: child.stdin.take(),
        stdout: BufReader::new(child.stdout.take().unwrap()).lines(),
        child,
    };
    chat.wait_for("listening on").await;
    // The join hint is printed above the first prompt once the line editor
    // runs; typing before it raced the editor's start.
    chat.wait_for("others join with").await;
    // The line editor can swallow a line typed while it sets the terminal
    // up (it asks the terminal where the cursor is and reads the answer from
    // the same input, and script(1) never answers): /help is typed again
    // until its first line shows.
    let mut first = None;
    for _ in 0..5 {
        chat.type_line("/help").await;
        let shows = chat.line_within("broadcast TEXT to everyone", Duration::from_secs(2));
        if let Some(line) = shows.await {
            first = Some(shown(&line));
            break;
        }
    }
    let mut help = vec![first.expect("/help answered")];
    loop {
        let line = shown(&chat.wait_for("").await);
        help.push(line.clone());
        if line.contains("/quit ") {
            break;
        }
    }
    // A /help typed twice may be answered twice: let a second answer pass.
    while chat
        .line_within("", Duration::from_millis(500))
        .await
        .is_some()
    {}
    assert_eq!(help.len(), 11, "{help:?}");
    let column = help[0].find("broadcast").unwrap();
    for (line, text) in help.iter().zip([
        "broadcast",
        "connect",
        "list",
        "ask",
        "send",
        "the key",
        "pin NAME",
        "forget NAME's",
        "the last",
        "this",
        "leave",
    ]) {
        assert!(line.starts_with("  "), "{help:?}");
        assert_eq!(line.find(text), Some(column), "{help:?}");
    }
    chat.type_line("/quit").await;
    let mut after = Vec::new();
    while let Ok(Some(line)) = tokio::time::timeout(WAIT, chat.stdout.next_line())
        .await
        .unwrap()
    {
        after.push(shown(&line));
    }
    // The prompt that echoes /quit is the last one drawn; the goodbye ends the output.
    assert_eq!(
        after[after.len().saturating_sub(2)..],
        ["leaving...", "bye"],
        "{after:?}"
    );
    for line in &after {
        assert!(
            !line.contains("zed>") || line.contains("/quit"),
            "a prompt after /quit: {after:?}"
        );
    }
    assert!(chat.child.wait().await.unwrap().success());
}

/// What a terminal shows of one output line: escape sequences (colours,
/// erase, cursor moves) taken out, and only what follows the last carriage return.
fn shown(raw: &str) -> String {
    let mut text = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                // Parameters, then one final byte in '@'..='~'.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            '\r' => text.clear(),
            c => text.push(c),
        }
    }
    text
}

/// A bootstrap address nobody listens on is told in one line with the next
/// retry; a line typed with no peer connected says that nobody got it.
#[tokio::test]
async fn unreachable_bootstrap_and_lonely_lines_are_told() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let target = format!("127.0.0.1:{dead}");
    let mut c = Chat::start(&["--id", "dora", "--bootstrap", &target]).await;
    let line = c.wait_for("could not reach").await;
    let told = format!("could not reach {target}: connection refused; retrying in ");
    assert!(line.contains(&told), "{line}");
    c.type_line("anyone there?").await;
    let line = c.wait_for("no peer is connected").await;
    assert!(line.contains("nobody got that"), "{line}");
    c.type_line("/quit").await;
    c.wait_for("bye").await;
    assert!(c.child.wait().await.unwrap().success());
}
