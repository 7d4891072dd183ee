//! `peerchat chat` and `run` with data directories: the default per-id directory, the lock, history across restarts, kill -9, and nothing on disk without one.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const WAIT: Duration = Duration::from_secs(10);

/// A fresh directory under the system's temp dir, created.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "peerchat-store-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `peerchat` child with piped stdin and stdout, its home and data home
/// set to `home` (so nothing reaches the user's own).
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Proc {
    fn spawn(home: &Path, cwd: &Path, args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_peerchat"))
            .args(args)
            .env("HOME", home)
            .env("XDG_DATA_HOME", home.join("data"))
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn peerchat");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Proc {
            child,
            stdin,
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

    /// The next output line containing `needle`.
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

    /// The next `run` event of `kind`.
    async fn event(&mut self, kind: &str) -> Value {
        loop {
            let line = self.wait_for("").await;
            let v: Value = serde_json::from_str(&line).expect("run prints JSON lines");
            if v["event"] == kind {
                return v;
            }
        }
    }

    async fn quit(mut self, command: &str, last: &str) {
        self.type_line(command).await;
        self.wait_for(last).await;
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success());
    }
}

/// The address at the end of chat's banner line.
fn banner_addr(banner: &str) -> String {
    banner.rsplit(' ').next().unwrap().to_string()
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            found.push(path.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    found
}

/// `chat` without flags keeps its key in `$XDG_DATA_HOME/peerchat/default`
/// with the generated id; the next start is the same id and key.
#[tokio::test]
async fn chat_defaults_to_a_data_dir_and_keeps_its_identity() {
    let home = temp_dir("default");
    let mut first = Proc::spawn(&home, &home, &["chat"]);
    let banner = first.wait_for("listening on").await;
    first.wait_for("kept in").await;
    first.quit("/quit", "bye").await;
    let dir = home.join("data/peerchat/default");
    for file in ["id", "identity.key", "lock", "peerchat.db"] {
        assert!(dir.join(file).exists(), "{file} in {}", dir.display());
    }
    let id = std::fs::read_to_string(dir.join("id")).unwrap();
    assert!(
        banner.starts_with(&format!("you are {} [", id.trim())),
        "{banner}"
    );

    let mut again = Proc::spawn(&home, &home, &["chat"]);
    let banner2 = again.wait_for("listening on").await;
    again.quit("/quit", "bye").await;
    let who = |b: &str| b.split(", listening").next().unwrap().to_string();
    assert_eq!(who(&banner), who(&banner2));
    // With --id the directory is the id's own.
    let mut named = Proc::spawn(&home, &home, &["chat", "--id", "al/ice"]);
    named.wait_for("listening on").await;
    named.quit("/quit", "bye").await;
    assert!(home.join("data/peerchat/al%2Fice/identity.key").exists());
    std::fs::remove_dir_all(home).unwrap();
}

/// A second process on a data directory in use is refused: exit code 2, one
/// line saying the directory is in use; `--key` names a key file directly.
#[tokio::test]
async fn a_data_dir_in_use_is_refused() {
    let home = temp_dir("lock");
    let dir = home.join("shared");
    let dir_arg = dir.to_str().unwrap();
    let mut holder = Proc::spawn(&home, &home, &["chat", "--id", "a", "--data-dir", dir_arg]);
    holder.wait_for("listening on").await;
    for args in [
        vec!["chat", "--id", "b", "--data-dir", dir_arg],
        vec!["run", "--id", "c", "--data-dir", dir_arg],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_peerchat"))
            .args(&args)
            .env("HOME", &home)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "a node started: {args:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!(
                "data directory {dir_arg} is in use by another process"
            )),
            "{err}"
        );
    }
    holder.quit("/quit", "bye").await;

    let key = home.join("my.key");
    let key_arg = key.to_str().unwrap();
    let mut keyed = Proc::spawn(&home, &home, &["run", "--id", "k", "--key", key_arg]);
    keyed.event("listening").await;
    keyed.quit("quit", "stopped").await;
    assert!(key.exists());
    std::fs::remove_dir_all(home).unwrap();
}

/// A chat restarted on its data directory shows what it received before
/// with `/history`, and rejoins the peer it knew without `--bootstrap`.
#[tokio::test]
async fn chat_history_and_peers_survive_a_restart() {
    let home = temp_dir("restart");
    let dir = home.join("alice");
    let dir_arg = dir.to_str().unwrap();
    let mut alice = Proc::spawn(
        &home,
        &home,
        &["chat", "--id", "alice", "--data-dir", dir_arg],
    );
    let addr = banner_addr(&alice.wait_for("listening on").await);
    let mut bob = Proc::spawn(&home, &home, &["run", "--id", "bob", "--bootstrap", &addr]);
    bob.event("peer_connected").await;
    alice.wait_for("bob joined").await;
    bob.type_line("broadcast said before the restart").await;
    alice.wait_for("<bob> said before").await;
    alice.quit("/quit", "bye").await;

    let mut alice = Proc::spawn(
        &home,
        &home,
        &["chat", "--id", "alice", "--data-dir", dir_arg],
    );
    alice.wait_for("rejoining peers known from before").await;
    alice.wait_for("bob joined").await;
    alice.type_line("/history").await;
    let line = alice.wait_for("<bob>").await;
    assert!(line.ends_with("<bob> said before the restart"), "{line}");
    alice.type_line("/history x").await;
    assert!(alice.wait_for("! ").await.contains("usage: /history [N]"));
    alice.quit("/quit", "bye").await;
    bob.quit("quit", "stopped").await;
    std::fs::remove_dir_all(home).unwrap();
}

/// `run --data-dir` answers `history N` with a `history` event listing the
/// newest N messages, oldest first; a bad count is a usage error.
#[tokio::test]
async fn run_history_command() {
    let home = temp_dir("runhist");
    let dir = home.join("n");
    let mut n = Proc::spawn(
        &home,
        &home,
        &["run", "--id", "n", "--data-dir", dir.to_str().unwrap()],
    );
    let addr = n.event("listening").await["addr"]
        .as_str()
        .unwrap()
        .to_string();
    let mut m = Proc::spawn(&home, &home, &["run", "--id", "m", "--bootstrap", &addr]);
    m.event("peer_connected").await;
    for text in ["one", "two", "three"] {
        m.type_line(&format!("broadcast {text}")).await;
    }
    loop {
        if n.event("broadcast").await["text"] == "three" {
            break;
        }
    }
    n.type_line("history 2").await;
    let history = n.event("history").await;
    let messages = history["messages"].as_array().unwrap();
    let got: Vec<&str> = messages
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["two", "three"]);
    assert_eq!(messages[0]["from"], "m");
    assert!(messages[0]["id"].is_string() && messages[0]["received_at_ms"].is_u64());
    n.type_line("history lots").await;
    let error = n.event("error").await;
    assert_eq!(error["message"], "usage: history [N]");
    n.quit("quit", "stopped").await;
    m.quit("quit", "stopped").await;
    std::fs::remove_dir_all(home).unwrap();
}

/// Without a data directory nothing touches the disk: an `--ephemeral`
/// chat and a `run` node that talk leave their home, data home and working
/// directory empty.
#[tokio::test]
async fn ephemeral_nodes_write_nothing() {
    let home = temp_dir("ephemeral");
    let mut chat = Proc::spawn(&home, &home, &["chat", "--ephemeral", "--id", "e"]);
    let addr = banner_addr(&chat.wait_for("listening on").await);
    chat.wait_for("nothing kept on disk").await;
    let mut run = Proc::spawn(&home, &home, &["run", "--id", "r", "--bootstrap", &addr]);
    run.event("peer_connected").await;
    run.type_line("broadcast hello").await;
    chat.wait_for("<r> hello").await;
    chat.type_line("/history").await;
    chat.wait_for("no history").await;
    run.type_line("history").await;
    assert_eq!(
        run.event("history").await["messages"],
        serde_json::json!([])
    );
    chat.quit("/quit", "bye").await;
    run.quit("quit", "stopped").await;
    assert_eq!(files_under(&home), Vec::<PathBuf>::new());
    std::fs::remove_dir_all(home).unwrap();
}

/// Reads the database left in `dir`: integrity, the feed row, the messages.
fn inspect(dir: &Path) -> (String, (i64, i64), Vec<String>) {
    let db = rusqlite::Connection::open(dir.join("peerchat.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    let feed = db
        .query_row("SELECT epoch, reserved FROM feed", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let mut stmt = db
        .prepare("SELECT text FROM messages ORDER BY row")
        .unwrap();
    let texts = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<String>, _>>()
        .unwrap();
    (check, feed, texts)
}

/// A `run --data-dir` node killed with SIGKILL in the middle of a burst it
/// receives and sends leaves an intact database (integrity_check ok), whose
/// messages are each one of the burst, once; it restarts on it, keeps its
/// feed's epoch, its reservation never goes back, and lists its history.
#[tokio::test]
async fn kill_9_mid_burst_leaves_an_intact_database() {
    let home = temp_dir("kill9");
    let dir = home.join("x");
    let dir_arg = dir.to_str().unwrap();
    let mut x = Proc::spawn(&home, &home, &["run", "--id", "x", "--data-dir", dir_arg]);
    let addr = x.event("listening").await["addr"]
        .as_str()
        .unwrap()
        .to_string();
    let mut y = Proc::spawn(&home, &home, &["run", "--id", "y", "--bootstrap", &addr]);
    y.event("peer_connected").await;
    // y's output (a line per message of x's burst) is read all along, so
    // a full pipe never stops y.
    let Proc {
        child: mut y_child,
        stdin: mut y_stdin,
        stdout: mut y_stdout,
    } = y;
    let y_lines = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Ok(Some(line)) = y_stdout.next_line().await {
            lines.push(line);
        }
        lines
    });
    let burst = 400;
    let mut lines = String::new();
    for i in 0..burst {
        lines.push_str(&format!("broadcast y{i}\n"));
    }
    let stdin = y_stdin.as_mut().unwrap();
    stdin.write_all(lines.as_bytes()).await.unwrap();
    let mut own = String::new();
    for i in 0..burst {
        own.push_str(&format!("broadcast x{i}\n"));
    }
    x.stdin
        .as_mut()
        .unwrap()
        .write_all(own.as_bytes())
        .await
        .unwrap();
    // Killed once some of the burst has arrived, while the rest still comes.
    loop {
        if x.event("broadcast").await["text"] == "y50" {
            break;
        }
    }
    x.child.start_kill().unwrap();
    x.child.wait().await.unwrap();

    let (check, (epoch, reserved), texts) = inspect(&dir);
    assert_eq!(check, "ok");
    let mut seen = std::collections::HashSet::new();
    for t in &texts {
        let valid = t
            .strip_prefix('x')
            .or_else(|| t.strip_prefix('y'))
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n < burst);
        assert!(valid, "not from the burst: {t:?}");
        assert!(seen.insert(t.clone()), "stored twice: {t}");
    }

    let mut x = Proc::spawn(&home, &home, &["run", "--id", "x", "--data-dir", dir_arg]);
    x.event("listening").await;
    x.type_line("history 10000").await;
    let listed = x.event("history").await["messages"]
        .as_array()
        .unwrap()
        .len();
    assert!(
        listed >= texts.len(),
        "{listed} listed, {} stored",
        texts.len()
    );
    x.quit("quit", "stopped").await;
    let (check, (epoch2, reserved2), _) = inspect(&dir);
    assert_eq!(check, "ok");
    assert_eq!(epoch2, epoch, "the feed's epoch changed across the kill");
    assert!(reserved2 >= reserved, "the reservation went back");
    let stdin = y_stdin.as_mut().unwrap();
    stdin.write_all(b"quit\n").await.unwrap();
    let status = tokio::time::timeout(WAIT, y_child.wait()).await.unwrap();
    assert!(status.unwrap().success());
    let y_lines = y_lines.await.unwrap();
    assert!(y_lines.last().is_some_and(|l| l.contains("stopped")));
    std::fs::remove_dir_all(home).unwrap();
}
