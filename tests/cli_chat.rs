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
    async fn start(args: &[&str]) -> Chat {
        let mut child = Command::new(env!("CARGO_BIN_EXE_peerchat"))
            .arg("chat")
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

/// A listen address that cannot be bound is one clear error and a failing exit code.
#[tokio::test]
async fn bad_listen_address_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_peerchat"))
        .args(["chat", "--listen", "not-an-address"])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("peerchat: cannot start a node on not-an-address"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
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
