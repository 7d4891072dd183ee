//! A real `peerchat run` process inside a lab host's namespace: stdin commands, timestamped JSON events.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use super::lab::Host;

/// Keep-alive and redial settings of every lab node: short, so a cut link is
/// noticed in about 2 s and a node that comes back is redialled soon after.
pub const FLAGS: &[&str] = &[
    "--ping-interval-ms",
    "500",
    "--peer-timeout-ms",
    "2000",
    "--connect-timeout-ms",
    "1000",
    "--redial-base-ms",
    "200",
    "--redial-attempts",
    "20",
];

/// One event a node printed, and when the test read it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub event: Value,
}

/// A `peerchat run` in a namespace. Killed when dropped.
pub struct Proc {
    pub host: String,
    pub pid: u32,
    pub started: Instant,
    child: Child,
    stdin: Option<ChildStdin>,
    rx: mpsc::UnboundedReceiver<Seen>,
    /// Every event read so far, in order.
    pub log: Vec<Seen>,
    /// Waits look at events from this index of `log` on (see [`Proc::mark`]).
    from: usize,
    /// Indices of `log` a wait has already returned.
    taken: HashSet<usize>,
}

impl Proc {
    /// Starts `peerchat run --id NAME --listen LISTEN` and `extra` flags in
    /// `host`'s namespace, and waits for its `listening` event.
    pub async fn start(host: &Host, listen: &str, extra: &[&str]) -> Proc {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &host.ns, env!("CARGO_BIN_EXE_peerchat")])
            .args(["run", "--id", &host.name, "--listen", listen])
            .args(FLAGS)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn ip netns exec peerchat");
        // `ip netns exec` execs the program: this pid is peerchat's own.
        let pid = child.id().expect("child pid");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let at = Instant::now();
                if let Ok(event) = serde_json::from_str(&line) {
                    if tx.send(Seen { at, event }).is_err() {
                        break;
                    }
                }
            }
        });
        let mut p = Proc {
            host: host.name.clone(),
            pid,
            started: Instant::now(),
            stdin: child.stdin.take(),
            child,
            rx,
            log: Vec::new(),
            from: 0,
            taken: HashSet::new(),
        };
        p.wait_for("listening", Duration::from_secs(10), |e| {
            (e["event"] == "listening").then_some(())
        })
        .await;
        p
    }

    /// Writes one command line; a dead process is not an error here.
    pub async fn say(&mut self, line: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(format!("{line}\n").as_bytes()).await;
        }
    }

    /// Moves every event read so far into `log`.
    pub fn pump(&mut self) {
        while let Ok(seen) = self.rx.try_recv() {
            self.log.push(seen);
        }
    }

    /// Later waits look only at events read from now on: call it before
    /// the action whose effect a wait is for, so older events cannot answer.
    pub fn mark(&mut self) {
        self.pump();
        self.from = self.log.len();
    }

    /// The first event since the last [`Proc::mark`] that `pick` accepts and
    /// no earlier wait returned; panics naming `what` after `timeout`.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        pick: impl FnMut(&Value) -> Option<T>,
    ) -> T {
        self.wait_at(what, timeout, pick).await.1
    }

    /// [`Proc::wait_for`], with the time the event was read.
    pub async fn wait_at<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut pick: impl FnMut(&Value) -> Option<T>,
    ) -> (Instant, T) {
        self.pump();
        for k in self.from..self.log.len() {
            if !self.taken.contains(&k) {
                if let Some(found) = pick(&self.log[k].event) {
                    self.taken.insert(k);
                    return (self.log[k].at, found);
                }
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, self.rx.recv()).await;
            match next {
                Ok(Some(seen)) => {
                    let (at, found) = (seen.at, pick(&seen.event));
                    self.log.push(seen);
                    if let Some(found) = found {
                        self.taken.insert(self.log.len() - 1);
                        return (at, found);
                    }
                }
                Ok(None) => panic!("{}: output ended before {what}", self.host),
                Err(_) => panic!("{}: no {what} within {timeout:?}", self.host),
            }
        }
    }

    /// The events of `kind` logged so far.
    pub fn logged(&mut self, kind: &str) -> Vec<Value> {
        self.pump();
        self.log
            .iter()
            .filter(|s| s.event["event"] == kind)
            .map(|s| s.event.clone())
            .collect()
    }

    /// The node's peer table (`peers` command): `(id, "host:port")` pairs.
    pub async fn peers(&mut self) -> Vec<(String, String)> {
        self.say("peers").await;
        let peers = self
            .wait_for("peers", Duration::from_secs(10), |e| {
                (e["event"] == "peers").then(|| e["peers"].clone())
            })
            .await;
        peers
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| (text(&p["id"]), addr(&p["addr"])))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Kills the process at once (SIGKILL: no goodbye to its peers) and
    /// collects what it printed.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.stdin = None;
        // The reader ends at end of output; take what it still had.
        while let Ok(Some(seen)) =
            tokio::time::timeout(Duration::from_secs(2), self.rx.recv()).await
        {
            self.log.push(seen);
        }
    }

    /// Quits a running node; one already killed is just dropped.
    pub async fn quit_or_drop(self) {
        if self.stdin.is_some() {
            self.quit().await;
        }
    }

    /// Asks the node to quit and waits for it to stop.
    pub async fn quit(mut self) {
        self.say("quit").await;
        self.wait_for("stopped", Duration::from_secs(10), |e| {
            (e["event"] == "stopped").then_some(())
        })
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// A JSON string's text.
pub fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A wire address `[host, port]` as `host:port` (`[v6]:port` for IPv6).
pub fn addr(v: &Value) -> String {
    let host = text(&v[0]);
    let port = v[1].as_u64().unwrap_or(0);
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
