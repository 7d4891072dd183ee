//! Black-box checks of `peerchat run`: stdin commands, JSON events on stdout, raw sockets.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const WAIT: Duration = Duration::from_secs(10);

struct RunNode {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    addr: String,
}

impl RunNode {
    async fn start(id: &str, extra: &[&str]) -> RunNode {
        // Loopback port 0 unless the test asks for another listen address.
        let listen: &[&str] = if extra.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_peerchat"))
            .args(["-v", "run", "--id", id])
            .args(listen)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn peerchat");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut node = RunNode {
            child,
            stdin,
            stdout,
            addr: String::new(),
        };
        let listening = node.next_event("listening").await;
        node.addr = listening["addr"].as_str().unwrap().to_string();
        node
    }

    async fn say(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    async fn next_event(&mut self, kind: &str) -> Value {
        loop {
            let line = tokio::time::timeout(WAIT, self.stdout.next_line())
                .await
                .unwrap_or_else(|_| panic!("no {kind} event in time"))
                .unwrap()
                .unwrap_or_else(|| panic!("stdout closed before {kind}"));
            let v: Value = serde_json::from_str(&line).expect("stdout lines are JSON");
            if v["event"] == kind {
                return v;
            }
        }
    }

    async fn quit(mut self) -> String {
        self.say("quit").await;
        self.next_event("stopped").await;
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success());
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        stderr
    }
}

/// A raw PING gets a PONG naming the node's real address; non-JSON, a frame
/// missing fields and a 1 MiB line are logged and counted while the node serves on.
#[tokio::test]
async fn raw_socket_ping_and_bad_input() {
    let mut node = RunNode::start("runner", &[]).await;
    let port: u16 = node.addr.rsplit_once(':').unwrap().1.parse().unwrap();

    let mut sock = TcpStream::connect(&node.addr).await.unwrap();
    sock.write_all(
        br#"{"msg_type":"PING","msg":["127.0.0.1",4999],"originator":"x","time":"t","v":1}"#,
    )
    .await
    .unwrap();
    sock.write_all(b"\n").await.unwrap();
    let mut reader = BufReader::new(sock);
    let mut line = String::new();
    tokio::time::timeout(WAIT, reader.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    let pong: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(pong["msg_type"], "PONG");
    assert_eq!(pong["msg"], json!(["127.0.0.1", port]));
    node.next_event("peer_connected").await;

    let mut bad = TcpStream::connect(&node.addr).await.unwrap();
    bad.write_all(b"hello, is this json?\n").await.unwrap();
    bad.write_all(b"{\"msg_type\":\"TEST\",\"msg\":\"no originator\"}\n")
        .await
        .unwrap();
    let mut big = vec![b'a'; 1 << 20];
    big.push(b'\n');
    let _ = bad.write_all(&big).await; // the node may close mid-write

    let mut malformed = 0;
    for _ in 0..200 {
        node.say("metrics").await;
        malformed = node.next_event("metrics").await["metrics"]["malformed_frames"]
            .as_u64()
            .unwrap();
        if malformed == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(malformed, 3);
    // Still serving: the first connection's peer is still there and commands work.
    node.say("peers").await;
    assert_eq!(node.next_event("peers").await["peers"][0]["id"], "x");
    node.say("frobnicate").await;
    assert!(node.next_event("error").await["message"]
        .as_str()
        .unwrap()
        .starts_with("usage"));
    let stderr = node.quit().await;
    assert!(stderr.contains("malformed frame"), "logged: {stderr}");
}

/// Two `peerchat run` nodes: one bootstraps to the other; a broadcast and a direct
/// message arrive as JSON events, and the sender sees `delivered`.
#[tokio::test]
async fn two_run_nodes_broadcast() {
    let mut a = RunNode::start("a", &[]).await;
    let addr = a.addr.clone();
    let mut b = RunNode::start("b", &["--bootstrap", &addr]).await;
    a.next_event("peer_connected").await;
    b.next_event("peer_connected").await;
    b.say("broadcast hi from b").await;
    let got = a.next_event("broadcast").await;
    assert_eq!(
        (got["from"].as_str(), got["text"].as_str()),
        (Some("b"), Some("hi from b"))
    );
    // Signed by b's key, the first seen under "b": verified, and pinned now.
    assert_eq!(
        (got["verified"].as_bool(), got["trust"].as_str()),
        (Some(true), Some("new"))
    );
    b.quit().await;
    a.quit().await;
}

/// Errors are `error` events naming the command (not echoing a 70 KB line);
/// a message too large to send is one of them, and the link stays up;
/// `test` confirms with `sent_test`; logs piped to a file carry no colour codes.
#[tokio::test]
async fn run_reports_errors_and_confirms_tests() {
    let mut a = RunNode::start("a", &[]).await;
    let addr = a.addr.clone();
    let mut b = RunNode::start("b", &["--bootstrap", &addr]).await;
    a.next_event("peer_connected").await;
    b.next_event("peer_connected").await;

    let huge = "x".repeat(70_000);
    b.say(&format!("broadcast {huge}")).await;
    let err = b.next_event("error").await;
    assert_eq!(err["command"], "broadcast");
    let message = err["message"].as_str().unwrap();
    assert!(message.starts_with("message too large"), "{message}");
    b.say(&format!("msg a {huge}")).await;
    let err = b.next_event("error").await;
    assert_eq!(err["command"], "msg");
    assert!(err["message"]
        .as_str()
        .unwrap()
        .starts_with("message too large"));

    b.say("test a are you there").await;
    assert_eq!(
        b.next_event("sent_test").await,
        json!({"event": "sent_test", "to": "a"})
    );
    assert_eq!(a.next_event("test").await["text"], "are you there");
    b.say("broadcast still here").await;
    assert_eq!(a.next_event("broadcast").await["text"], "still here");
    b.say("peers").await;
    assert_eq!(b.next_event("peers").await["peers"][0]["id"], "a");

    for stderr in [b.quit().await, a.quit().await] {
        assert!(stderr.contains("DEBUG"), "-v logs: {stderr}");
        assert!(
            !stderr.contains('\u{1b}'),
            "colour codes in piped logs: {stderr:?}"
        );
    }
}

/// Runs `peerchat ARGS` with no input; returns its exit code, stdout and stderr.
async fn peerchat(args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(
        WAIT,
        Command::new(env!("CARGO_BIN_EXE_peerchat"))
            .args(args)
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("peerchat exits")
    .unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code(), text(out.stdout), text(out.stderr))
}

/// A `--bootstrap` or `--listen` that is not `host:port`, or an empty `--id`,
/// stops `run` before any node starts (no `listening` event) with a non-zero
/// exit; a host name is syntax enough (it is resolved when dialled).
#[tokio::test]
async fn bad_addresses_are_refused_before_a_node_starts() {
    for (flag, bad, why) in [
        ("--bootstrap", "foo:bar", "the port must be a number"),
        ("--bootstrap", "127.0.0.1", "expected host:port"),
        ("--bootstrap", ":7001", "the host is missing"),
        (
            "--bootstrap",
            "no_such host:7001",
            "not an IP address or a host name",
        ),
        ("--listen", "not-an-address", "expected host:port"),
    ] {
        let (code, stdout, stderr) = peerchat(&["run", flag, bad]).await;
        assert_eq!(code, Some(2), "{flag} {bad}: {stderr}");
        assert_eq!(stdout, "", "{flag} {bad}: a node started");
        assert!(
            stderr.contains(&format!("invalid address \"{bad}\"")),
            "{stderr}"
        );
        assert!(stderr.contains(why), "{flag} {bad}: {stderr}");
    }
    let (code, stdout, stderr) = peerchat(&["run", "--id", ""]).await;
    assert_eq!((code, stdout.as_str()), (Some(2), ""), "empty id: {stderr}");
    // localhost resolves from /etc/hosts; nothing listens on port 1.
    let mut named = RunNode::start("named", &["--bootstrap", "localhost:1"]).await;
    named.say("peers").await;
    assert_eq!(named.next_event("peers").await["peers"], json!([]));
    named.quit().await;
}

/// A listen port already taken is one line naming the address and the OS's
/// reason once, and a failing exit code.
#[tokio::test]
async fn port_in_use_is_said_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stdout, stderr) = peerchat(&["run", "--id", "late", "--listen", &addr]).await;
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "peerchat: starting node late: cannot listen on {addr}: "
        )),
        "{stderr}"
    );
    assert_eq!(stderr.matches("in use").count(), 1, "{stderr}");
}
/// A bootstrap address nobody listens on is reported as a `dial_failed`
/// event with its error and the delay of the next attempt.
#[tokio::test]
async fn failed_dial_is_an_event() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let target = format!("127.0.0.1:{dead}");
    let mut node = RunNode::start("lonely", &["--bootstrap", &target]).await;
    let failed = node.next_event("dial_failed").await;
    assert_eq!(failed["addr"], json!(["127.0.0.1", dead]));
    assert_eq!(failed["error"], "refused");
    assert!(failed["retry_in_ms"].as_u64().is_some(), "{failed}");
    node.quit().await;
}

/// `--advertise` is the address peers record; a node on `0.0.0.0` is
/// recorded at the loopback address its peer reached it on.
#[tokio::test]
async fn advertise_and_unspecified_listen() {
    let a = RunNode::start("a", &["--advertise", "a.example:7000"]).await;
    let any = RunNode::start("any", &["--listen", "0.0.0.0:0"]).await;
    let any_port: u16 = any.addr.rsplit_once(':').unwrap().1.parse().unwrap();
    let addr = a.addr.clone();
    let mut b = RunNode::start("b", &["--bootstrap", &addr]).await;
    assert_eq!(
        b.next_event("peer_connected").await["addr"],
        json!(["a.example", 7000])
    );
    b.say(&format!("join 127.0.0.1:{any_port}")).await;
    let joined = b.next_event("peer_connected").await;
    assert_eq!(joined["peer"], "any");
    assert_eq!(joined["addr"], json!(["127.0.0.1", any_port]));
    for n in [b, any, a] {
        n.quit().await;
    }
}
