//! The chaos soak: lab hosts chat a line a second while a seeded schedule kills, restarts, cuts and restores them.
//!
//! Afterwards the run is replayed from what the nodes printed: who had whom
//! registered at each moment gives the hosts connected to a sender when it
//! sent, and each of them must have delivered the line exactly once.

use std::time::{Duration, Instant};

use super::lab::Lab;
use super::proc::Proc;
use super::replay::{analyse, print_report};

/// Hosts in the soak.
pub const HOSTS: usize = 6;
/// Soak length unless `PEERCHAT_SOAK_SECS` says otherwise.
const DEFAULT_SECS: u64 = 600;
/// Seed of the chaos schedule unless `PEERCHAT_SOAK_SEED` says otherwise.
const DEFAULT_SEED: u64 = 14;
/// A line is "quiet" when no chaos step came this close before or after it:
/// longer than a dead-peer detection (peer timeout 2 s + one 0.5 s probe
/// period) with a margin, so the graph the test replays is the real one.
pub const QUIET: Duration = Duration::from_secs(4);
/// How long after a process starts its "start" RSS and open files are read.
pub const WARM_UP: Duration = Duration::from_secs(2);

/// What the schedule does to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Kill,
    Restart,
    Cut,
    Restore,
}

/// A chaos step as it was carried out.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub at: Instant,
    pub host: usize,
    pub action: Action,
}

/// One line a host said.
pub struct Said {
    pub at: Instant,
    pub from: usize,
    pub text: String,
}

/// RSS (KiB) and open files of one process at its start and at its end.
pub struct Usage {
    pub host: usize,
    pub pid: u32,
    pub lived: Duration,
    pub start: Option<(u64, usize)>,
    pub end: Option<(u64, usize)>,
}

/// splitmix64: the schedule's seeded randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` seconds, to the millisecond.
    fn secs(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo * 1000 + self.next() % ((hi - lo) * 1000 + 1))
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// RSS in KiB and open files of `pid`, from `/proc`.
fn usage(pid: u32) -> Option<(u64, usize)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((rss, fds))
}

/// The soak's hosts and what happened to them.
struct Soak<'a> {
    lab: &'a Lab,
    procs: Vec<Option<Proc>>,
    usage: Vec<Usage>,
    /// Processes that ended (killed), kept for their output.
    ended: Vec<Proc>,
    steps: Vec<Step>,
    said: Vec<Said>,
}

impl Soak<'_> {
    fn name(i: usize) -> String {
        format!("h{}", i + 1)
    }

    /// Host `i` bootstraps to the two hosts before it (by IP): every host has
    /// at least two peers, so one host gone never splits the others.
    async fn start(&mut self, i: usize) {
        let mut args = Vec::new();
        for j in i.saturating_sub(2)..i {
            let ip = self.lab.hosts[j].v4.clone().expect("IPv4 host");
            args.push("--bootstrap".to_string());
            args.push(format!("{ip}:7000"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let p = Proc::start(&self.lab.hosts[i], "0.0.0.0:7000", &args).await;
        self.usage.push(Usage {
            host: i,
            pid: p.pid,
            lived: Duration::ZERO,
            start: None,
            end: None,
        });
        self.procs[i] = Some(p);
    }

    /// Records the start figures of processes past their warm-up.
    fn sample_starts(&mut self) {
        for u in self.usage.iter_mut().filter(|u| u.start.is_none()) {
            if let Some(p) = self.procs[u.host].as_ref().filter(|p| p.pid == u.pid) {
                if p.started.elapsed() >= WARM_UP {
                    u.start = usage(u.pid);
                }
            }
        }
    }

    /// Records the end figures of host `i`'s running process.
    fn sample_end(&mut self, i: usize) {
        if let Some(p) = &self.procs[i] {
            if let Some(u) = self.usage.iter_mut().rev().find(|u| u.pid == p.pid) {
                u.end = usage(p.pid);
                u.lived = p.started.elapsed();
            }
        }
    }

    async fn act(&mut self, host: usize, action: Action) {
        self.steps.push(Step {
            at: Instant::now(),
            host,
            action,
        });
        let name = Self::name(host);
        match action {
            Action::Kill => {
                self.sample_end(host);
                if let Some(mut p) = self.procs[host].take() {
                    p.kill().await;
                    self.ended.push(p);
                }
            }
            Action::Restart => self.start(host).await,
            Action::Cut => self.lab.cut(&name).expect("cut"),
            Action::Restore => self.lab.restore(&name).expect("restore"),
        }
    }
}

/// Runs the soak on `lab` and prints its figures; fails on a duplicate
/// delivery, a quiet line missed, or a process whose open files grew.
pub async fn run(lab: &Lab) {
    let secs = env_u64("PEERCHAT_SOAK_SECS", DEFAULT_SECS);
    let seed = env_u64("PEERCHAT_SOAK_SEED", DEFAULT_SEED);
    let mut rng = Rng(seed);
    let mut soak = Soak {
        lab,
        procs: (0..HOSTS).map(|_| None).collect(),
        usage: Vec::new(),
        ended: Vec::new(),
        steps: Vec::new(),
        said: Vec::new(),
    };
    for i in 0..HOSTS {
        soak.start(i).await;
    }
    tokio::time::sleep(WARM_UP).await;
    let began = Instant::now();
    let end = began + Duration::from_secs(secs);
    println!("chaos_soak: {HOSTS} hosts, {secs} s, seed {seed}");
    // The schedule: one host disturbed at a time, then a pause.
    let mut next_chaos = began + rng.secs(5, 15);
    let mut undo: Option<(Instant, usize, Action)> = None;
    let tick = Duration::from_millis(1000 / HOSTS as u64);
    let mut seq = [0u64; HOSTS];
    let mut next_report = began + Duration::from_secs(60);
    let mut n = 0usize;
    while Instant::now() < end {
        tokio::time::sleep(tick).await;
        let now = Instant::now();
        let who = n % HOSTS;
        n += 1;
        if let Some(p) = soak.procs[who].as_mut() {
            seq[who] += 1;
            let line = format!("{}-{}", Soak::name(who), seq[who]);
            p.say(&format!("broadcast {line}")).await;
            soak.said.push(Said {
                at: now,
                from: who,
                text: line,
            });
        }
        soak.sample_starts();
        match undo {
            Some((at, host, action)) if now >= at => {
                soak.act(host, action).await;
                undo = None;
                next_chaos = Instant::now() + rng.secs(5, 15);
            }
            None if now >= next_chaos && now + Duration::from_secs(15) < end => {
                let host = (rng.next() % HOSTS as u64) as usize;
                let (action, back, after) = if rng.next().is_multiple_of(2) {
                    (Action::Kill, Action::Restart, rng.secs(3, 8))
                } else {
                    (Action::Cut, Action::Restore, rng.secs(5, 12))
                };
                soak.act(host, action).await;
                undo = Some((Instant::now() + after, host, back));
            }
            _ => {}
        }
        if now >= next_report {
            next_report += Duration::from_secs(60);
            println!(
                "chaos_soak: {:>4} s, {} lines said, {} chaos steps",
                began.elapsed().as_secs(),
                soak.said.len(),
                soak.steps.len()
            );
        }
    }
    if let Some((_, host, action)) = undo {
        soak.act(host, action).await;
    }
    // Let the last lines arrive before taking the end figures.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..HOSTS {
        soak.sample_end(i);
    }
    let mut procs: Vec<Proc> = soak.ended.drain(..).collect();
    procs.extend(soak.procs.iter_mut().filter_map(Option::take));
    for p in procs.iter_mut() {
        p.pump();
    }
    let report = analyse(&procs, &soak.steps, &soak.said);
    print_report(&report, &soak.usage, secs, seed);
    for p in procs {
        p.quit_or_drop().await;
    }
    assert_eq!(report.duplicates, 0, "lines delivered twice");
    assert_eq!(report.quiet.missing, 0, "quiet lines missed");
    for u in &soak.usage {
        if let (Some((_, f0)), Some((_, f1))) = (u.start, u.end) {
            assert!(
                f1 <= f0 + 8,
                "h{} pid {}: open files {f0} -> {f1}",
                u.host + 1,
                u.pid
            );
        }
    }
}
