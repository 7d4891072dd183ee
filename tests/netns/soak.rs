//! The chaos soak: lab hosts chat a line a second while a seeded schedule kills, restarts, cuts and restores them.
//!
//! Afterwards the run is replayed from what the nodes printed: who had whom
//! registered at each moment gives the hosts connected to a sender when it
//! sent, and each of them must have delivered the line exactly once.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::lab::Lab;
use super::proc::{text, Proc};

/// Hosts in the soak.
pub const HOSTS: usize = 6;
/// Soak length unless `PEERCHAT_SOAK_SECS` says otherwise.
const DEFAULT_SECS: u64 = 600;
/// Seed of the chaos schedule unless `PEERCHAT_SOAK_SEED` says otherwise.
const DEFAULT_SEED: u64 = 14;
/// A line is "quiet" when no chaos step came this close before or after it:
/// longer than a dead-peer detection (peer timeout 2 s + one 0.5 s probe
/// period) with a margin, so the graph the test replays is the real one.
const QUIET: Duration = Duration::from_secs(4);
/// How long after a process starts its "start" RSS and open files are read.
const WARM_UP: Duration = Duration::from_secs(2);

/// What the schedule does to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Kill,
    Restart,
    Cut,
    Restore,
}

/// A chaos step as it was carried out.
#[derive(Debug, Clone, Copy)]
struct Step {
    at: Instant,
    host: usize,
    action: Action,
}

/// One line a host said.
struct Said {
    at: Instant,
    from: usize,
    text: String,
}

/// RSS (KiB) and open files of one process at its start and at its end.
struct Usage {
    host: usize,
    pid: u32,
    lived: Duration,
    start: Option<(u64, usize)>,
    end: Option<(u64, usize)>,
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
                let (action, back, after) = if rng.next() % 2 == 0 {
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

/// Deliveries counted against the hosts connected to the sender at send time.
#[derive(Debug, Default)]
struct Tally {
    lines: usize,
    expected: usize,
    once: usize,
    missing: usize,
}

#[derive(Debug, Default)]
struct Report {
    all: Tally,
    quiet: Tally,
    duplicates: usize,
    /// Deliveries to hosts that were not connected to the sender at send time.
    extra: usize,
    /// Milliseconds from a cut (or kill) to each peer's `peer_disconnected`, with its reason.
    cut_detection: Vec<(u128, String)>,
    kill_detection: Vec<(u128, String)>,
    steps: BTreeMap<&'static str, usize>,
}

/// Replays events, steps and lines in time order over the registration graph.
fn analyse(procs: &[Proc], steps: &[Step], said: &[Said]) -> Report {
    enum Item<'a> {
        Event(usize, &'a serde_json::Value),
        Step(Step),
        Said(&'a Said),
    }
    let host_of = |name: &str| {
        let k: usize = name.strip_prefix('h')?.parse().ok()?;
        k.checked_sub(1)
    };
    let mut timeline: Vec<(Instant, Item)> = Vec::new();
    for p in procs {
        let Some(h) = host_of(&p.host) else { continue };
        timeline.extend(p.log.iter().map(|s| (s.at, Item::Event(h, &s.event))));
    }
    timeline.extend(steps.iter().map(|s| (s.at, Item::Step(*s))));
    timeline.extend(said.iter().map(|s| (s.at, Item::Said(s))));
    timeline.sort_by_key(|(at, _)| *at);

    let mut report = Report::default();
    let mut edges: HashSet<(usize, usize)> = HashSet::new();
    let mut expected: HashMap<&str, (Instant, HashSet<usize>)> = HashMap::new();
    let mut deliveries: HashMap<(&str, usize), usize> = HashMap::new();
    // Drops still awaited after a step: (host that must notice, host gone, step).
    let mut awaited: Vec<(usize, usize, Step)> = Vec::new();
    for (at, item) in &timeline {
        match item {
            Item::Event(h, e) => {
                let peer = host_of(e["peer"].as_str().unwrap_or("")).unwrap_or(usize::MAX);
                match e["event"].as_str() {
                    Some("peer_connected") => {
                        edges.insert((*h, peer));
                    }
                    Some("peer_disconnected") => {
                        edges.remove(&(*h, peer));
                        if let Some(k) = awaited.iter().position(|(x, g, _)| x == h && *g == peer) {
                            let (_, _, step) = awaited.remove(k);
                            let ms = at.duration_since(step.at).as_millis();
                            let reason = text(&e["reason"]);
                            match step.action {
                                Action::Cut => report.cut_detection.push((ms, reason)),
                                _ => report.kill_detection.push((ms, reason)),
                            }
                        }
                    }
                    Some("broadcast") => {
                        let said = e["text"].as_str().unwrap_or("");
                        if let Some((line, _)) = expected.get_key_value(said) {
                            *deliveries.entry((*line, *h)).or_default() += 1;
                        }
                    }
                    _ => {}
                }
            }
            Item::Step(step) => {
                *report.steps.entry(action_name(step.action)).or_default() += 1;
                if matches!(step.action, Action::Kill | Action::Cut) {
                    for &(x, y) in &edges {
                        if y == step.host && x != step.host {
                            awaited.push((x, y, *step));
                        }
                    }
                }
                if step.action == Action::Kill {
                    edges.retain(|(x, _)| *x != step.host);
                }
            }
            Item::Said(s) => {
                expected.insert(&s.text, (s.at, reachable(&edges, s.from)));
            }
        }
    }
    let quiet = |t: Instant| {
        steps.iter().all(|s| {
            let gap = if s.at > t { s.at - t } else { t - s.at };
            gap > QUIET
        })
    };
    for s in said {
        let Some((at, reach)) = expected.get(s.text.as_str()) else {
            continue;
        };
        let count = |t: &mut Tally| {
            t.lines += 1;
            t.expected += reach.len();
            for h in reach {
                match deliveries.get(&(s.text.as_str(), *h)).copied().unwrap_or(0) {
                    0 => t.missing += 1,
                    1 => t.once += 1,
                    _ => {}
                }
            }
        };
        count(&mut report.all);
        if quiet(*at) {
            count(&mut report.quiet);
        }
        for h in 0..HOSTS {
            let n = deliveries.get(&(s.text.as_str(), h)).copied().unwrap_or(0);
            if n > 1 {
                report.duplicates += 1;
            }
            if n > 0 && !reach.contains(&h) {
                report.extra += 1;
            }
        }
    }
    report
}

/// Hosts a line from `from` reaches over the registrations: each host
/// forwards to the peers it has registered.
fn reachable(edges: &HashSet<(usize, usize)>, from: usize) -> HashSet<usize> {
    let mut seen = HashSet::from([from]);
    let mut queue = VecDeque::from([from]);
    while let Some(x) = queue.pop_front() {
        for &(a, b) in edges {
            if a == x && seen.insert(b) {
                queue.push_back(b);
            }
        }
    }
    seen.remove(&from);
    seen
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Kill => "kill",
        Action::Restart => "restart",
        Action::Cut => "cut",
        Action::Restore => "restore",
    }
}

fn ms_summary(v: &[(u128, String)]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let mut ms: Vec<u128> = v.iter().map(|(m, _)| *m).collect();
    ms.sort_unstable();
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, r) in v {
        *reasons.entry(r.as_str()).or_default() += 1;
    }
    format!(
        "n={} min {} p50 {} max {} ms; reasons {:?}",
        ms.len(),
        ms[0],
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        reasons
    )
}

fn print_report(r: &Report, usage: &[Usage], secs: u64, seed: u64) {
    let ratio = |t: &Tally| {
        if t.expected == 0 {
            1.0
        } else {
            t.once as f64 / t.expected as f64
        }
    };
    println!("chaos_soak report ({secs} s, seed {seed}, {HOSTS} hosts)");
    println!("  chaos steps        {:?}", r.steps);
    for (name, t) in [("all lines", &r.all), ("quiet lines", &r.quiet)] {
        println!(
            "  {name:<18} {} said; {} deliveries expected (hosts connected to the sender at send time); {} exactly once ({:.6}); {} missing",
            t.lines, t.expected, t.once, ratio(t), t.missing
        );
    }
    println!(
        "  duplicates         {} (line, host) pairs delivered more than once",
        r.duplicates
    );
    println!(
        "  beyond the graph   {} deliveries to hosts not connected at send time",
        r.extra
    );
    println!("  drop after a cut   {}", ms_summary(&r.cut_detection));
    println!("  drop after a kill  {}", ms_summary(&r.kill_detection));
    println!("  processes (RSS KiB, open files; start = {WARM_UP:?} after launch):");
    for u in usage {
        let show = |x: Option<(u64, usize)>| match x {
            Some((rss, fds)) => format!("{rss:>6} KiB {fds:>3} files"),
            None => "-".into(),
        };
        println!(
            "    h{} pid {:>7} lived {:>6.1} s  start {}  end {}",
            u.host + 1,
            u.pid,
            u.lived.as_secs_f64(),
            show(u.start),
            show(u.end)
        );
    }
}
