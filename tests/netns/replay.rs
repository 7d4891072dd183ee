//! The soak replayed: who had whom registered when each line was said, who delivered it, how fast drops were noticed.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Instant;

use super::proc::{text, Proc};
use super::soak::{Action, Said, Step, Usage, HOSTS, QUIET, WARM_UP};

/// Deliveries counted against the hosts connected to the sender at send time.
#[derive(Debug, Default)]
pub struct Tally {
    /// Lines said.
    pub lines: usize,
    /// (line, host) pairs: each host connected to the sender when it said the line.
    pub expected: usize,
    /// Of those, the pairs where the host delivered the line exactly once.
    pub once: usize,
    /// Of those, the pairs where it never did.
    pub missing: usize,
}

/// What the soak measured.
#[derive(Debug, Default)]
pub struct Report {
    /// Every line said.
    pub all: Tally,
    /// Lines said with no chaos step within [`QUIET`] of them.
    pub quiet: Tally,
    /// (line, host) pairs delivered more than once.
    pub duplicates: usize,
    /// Deliveries to hosts that were not connected to the sender at send time.
    pub extra: usize,
    /// Milliseconds from a cut to each peer's `peer_disconnected`, with its reason.
    pub cut_detection: Vec<(u128, String)>,
    /// The same after a kill.
    pub kill_detection: Vec<(u128, String)>,
    /// Chaos steps carried out, by kind.
    pub steps: BTreeMap<&'static str, usize>,
}

/// Replays events, steps and lines in time order over the registration graph.
pub fn analyse(procs: &[Proc], steps: &[Step], said: &[Said]) -> Report {
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

pub fn print_report(r: &Report, usage: &[Usage], secs: u64, seed: u64) {
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
