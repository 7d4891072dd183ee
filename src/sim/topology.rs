//! Seeded topologies: who dials whom (ring, BENCH.md's random graph, star, line, an edge list).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::latency::parse_duration;
use super::SimError;

/// The seed BENCH.md builds its random graphs with.
pub const BENCH_SEED: u64 = 42;

/// The average degree BENCH.md uses when none is given.
pub const DEFAULT_DEGREE: u32 = 8;

/// Most nodes a topology may have: node indices are `u32` and link ends are
/// counted in `u32` too.
pub const MAX_NODES: u32 = 1 << 30;

/// A network layout: `n` nodes and the links between them, each written as
/// `(dialer, target)`. No self-links and no pair twice (in either direction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    n: u32,
    edges: Vec<(u32, u32)>,
    /// Latencies that the edge list gave for single links, by `(min, max)` pair.
    link_latency: BTreeMap<(u32, u32), Duration>,
    /// What built it, as `--topology` names it (`random`, `ring`, `file:PATH`, ...).
    name: String,
    /// The seed it was drawn with (the random graph only).
    seed: Option<u64>,
}

impl Topology {
    /// Builds a topology from dial pairs, dropping self-links and repeated pairs
    /// (the first dialer of a pair is kept).
    pub fn from_edges(n: u32, edges: Vec<(u32, u32)>) -> Result<Topology, SimError> {
        if n > MAX_NODES {
            return Err(SimError::Topology(format!(
                "{n} nodes is more than the {MAX_NODES} a simulation can hold"
            )));
        }
        if let Some(&(a, b)) = edges.iter().find(|&&(a, b)| a >= n || b >= n) {
            return Err(SimError::Topology(format!(
                "link {a} {b} names a node outside 0..{n}"
            )));
        }
        let mut keyed: Vec<(u64, u32, (u32, u32))> = edges
            .into_iter()
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, e)| (pair_key(e.0, e.1), i as u32, e))
            .collect();
        // Sort by pair, then by first appearance, so the first dialer wins; then
        // restore the order the links were given in.
        keyed.sort_unstable_by_key(|&(k, i, _)| (k, i));
        keyed.dedup_by_key(|&mut (k, _, _)| k);
        keyed.sort_unstable_by_key(|&(_, i, _)| i);
        let edges = keyed.into_iter().map(|(_, _, e)| e).collect();
        Ok(Topology {
            n,
            edges,
            link_latency: BTreeMap::new(),
            name: "edge list".into(),
            seed: None,
        })
    }

    /// The same links under another name (what built them).
    fn named(mut self, name: &str) -> Topology {
        self.name = name.into();
        self
    }

    /// Node i dials node i+1, and the last dials node 0.
    pub fn ring(n: u32) -> Result<Topology, SimError> {
        let edges = if n < 2 {
            Vec::new()
        } else {
            (0..n).map(|i| (i, (i + 1) % n)).collect()
        };
        Ok(Topology::from_edges(n, edges)?.named("ring"))
    }

    /// Node i dials node i+1: a path.
    pub fn line(n: u32) -> Result<Topology, SimError> {
        Ok(Topology::from_edges(n, (1..n).map(|i| (i - 1, i)).collect())?.named("line"))
    }

    /// Every other node dials node 0.
    pub fn star(n: u32) -> Result<Topology, SimError> {
        Ok(Topology::from_edges(n, (1..n).map(|i| (i, 0)).collect())?.named("star"))
    }

    /// BENCH.md's graph: node i dials (i+1) mod n (so the graph is connected)
    /// and `degree / 2 - 1` further distinct nodes drawn with a generator seeded
    /// by `seed`, for an average degree of about `degree`. A pair drawn twice
    /// (i picks j and j picks i) is one link.
    pub fn random(n: u32, degree: u32, seed: u64) -> Result<Topology, SimError> {
        if degree < 2 {
            return Err(SimError::Topology(format!(
                "degree {degree} is too small: the ring alone gives degree 2"
            )));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let extra = (degree / 2 - 1).min(n.saturating_sub(2)) as usize;
        let mut edges = Vec::with_capacity(n as usize * (extra + 1));
        let mut picked: Vec<u32> = Vec::with_capacity(extra);
        for i in 0..n {
            let next = (i + 1) % n;
            if n >= 2 {
                edges.push((i, next));
            }
            picked.clear();
            while picked.len() < extra {
                let j = rng.random_range(0..n);
                if j != i && j != next && !picked.contains(&j) {
                    picked.push(j);
                }
            }
            edges.extend(picked.iter().map(|&j| (i, j)));
        }
        let mut topo = Topology::from_edges(n, edges)?.named("random");
        topo.seed = Some(seed);
        Ok(topo)
    }

    /// Reads an edge list: one link `a b` per line (node indices from 0), an
    /// optional third column giving that link's latency (`5ms`, `250us`, or a
    /// bare number of milliseconds); `#` starts a comment. The node count is
    /// one more than the largest index.
    pub fn parse_edge_list(text: &str) -> Result<Topology, SimError> {
        let mut edges = Vec::new();
        let mut latencies = Vec::new();
        let mut n: u32 = 0;
        for (lineno, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |what: &str| SimError::Topology(format!("line {}: {what}", lineno + 1));
            let mut cols = line.split_whitespace();
            let mut node = || -> Result<u32, SimError> {
                cols.next()
                    .ok_or_else(|| bad("expected two node indices"))?
                    .parse::<u32>()
                    .map_err(|e| bad(&format!("bad node index: {e}")))
            };
            let (a, b) = (node()?, node()?);
            if a.max(b) >= MAX_NODES {
                return Err(bad("node index too large"));
            }
            n = n.max(a.max(b) + 1);
            if let Some(lat) = cols.next() {
                let lat = match lat.parse::<u64>() {
                    Ok(ms) => Duration::from_millis(ms),
                    Err(_) => parse_duration(lat).map_err(|e| bad(&e))?,
                };
                latencies.push(((a.min(b), a.max(b)), lat));
            }
            if cols.next().is_some() {
                return Err(bad("more than three columns"));
            }
            edges.push((a, b));
        }
        let mut topo = Topology::from_edges(n, edges)?;
        topo.link_latency = latencies.into_iter().collect();
        Ok(topo)
    }

    /// Reads an edge list from a file (see [`Topology::parse_edge_list`]).
    pub fn load(path: &Path) -> Result<Topology, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Topology(format!("cannot read {}: {e}", path.display())))?;
        Ok(Topology::parse_edge_list(&text)?.named(&format!("file:{}", path.display())))
    }

    /// What built it, as `--topology` names it: `random`, `ring`, `star`,
    /// `line`, `file:PATH`, or `edge list` (from [`Topology::from_edges`] or
    /// [`Topology::parse_edge_list`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The seed the random graph was drawn with (`None` for the other shapes).
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// How many nodes.
    pub fn nodes(&self) -> u32 {
        self.n
    }

    /// The links as `(dialer, target)`.
    pub fn edges(&self) -> &[(u32, u32)] {
        &self.edges
    }

    /// A latency the edge list fixed for the link between `a` and `b`.
    pub fn link_latency(&self, a: u32, b: u32) -> Option<Duration> {
        if self.link_latency.is_empty() {
            return None;
        }
        self.link_latency.get(&(a.min(b), a.max(b))).copied()
    }

    /// Links per node.
    pub fn degrees(&self) -> Vec<u32> {
        let mut d = vec![0u32; self.n as usize];
        for &(a, b) in &self.edges {
            d[a as usize] += 1;
            d[b as usize] += 1;
        }
        d
    }

    /// Mean links per node.
    pub fn mean_degree(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        2.0 * self.edges.len() as f64 / f64::from(self.n)
    }

    /// Neighbours of every node, each list sorted.
    pub fn adjacency(&self) -> Vec<Vec<u32>> {
        let mut adj: Vec<Vec<u32>> = self
            .degrees()
            .into_iter()
            .map(|d| Vec::with_capacity(d as usize))
            .collect();
        for &(a, b) in &self.edges {
            adj[a as usize].push(b);
            adj[b as usize].push(a);
        }
        for list in &mut adj {
            list.sort_unstable();
        }
        adj
    }
}

fn pair_key(a: u32, b: u32) -> u64 {
    (u64::from(a.min(b)) << 32) | u64::from(a.max(b))
}

/// Which topology to build, as `--topology` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopologySpec {
    /// [`Topology::ring`].
    Ring,
    /// [`Topology::random`] with the run's degree and seed.
    Random,
    /// [`Topology::star`].
    Star,
    /// [`Topology::line`].
    Line,
    /// [`Topology::load`] from this file.
    File(PathBuf),
}

impl TopologySpec {
    /// Builds it for `n` nodes (ignored for a file), average `degree` and `seed`.
    pub fn build(&self, n: u32, degree: u32, seed: u64) -> Result<Topology, SimError> {
        match self {
            TopologySpec::Ring => Topology::ring(n),
            TopologySpec::Random => Topology::random(n, degree, seed),
            TopologySpec::Star => Topology::star(n),
            TopologySpec::Line => Topology::line(n),
            TopologySpec::File(path) => Topology::load(path),
        }
    }
}

impl FromStr for TopologySpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "ring" => TopologySpec::Ring,
            "random" => TopologySpec::Random,
            "star" => TopologySpec::Star,
            "line" => TopologySpec::Line,
            _ => match s.strip_prefix("file:") {
                Some(path) if !path.is_empty() => TopologySpec::File(PathBuf::from(path)),
                _ => {
                    return Err(format!(
                        "unknown topology {s:?}: expected ring, random, star, line or file:PATH"
                    ))
                }
            },
        })
    }
}

impl fmt::Display for TopologySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopologySpec::Ring => f.write_str("ring"),
            TopologySpec::Random => f.write_str("random"),
            TopologySpec::Star => f.write_str("star"),
            TopologySpec::Line => f.write_str("line"),
            TopologySpec::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The random graph is connected through its ring, has about the asked
    /// degree, and the same seed gives the same graph.
    #[test]
    fn random_graph_is_seeded_and_near_degree() {
        let a = Topology::random(1000, 8, 42).unwrap();
        let b = Topology::random(1000, 8, 42).unwrap();
        assert_eq!(a, b);
        assert!((a.mean_degree() - 8.0).abs() < 0.1, "{}", a.mean_degree());
        assert!(a.edges().iter().all(|&(x, y)| x != y));
        assert_ne!(a, Topology::random(1000, 8, 43).unwrap());
    }

    /// Repeated and reversed pairs are one link; self-links are dropped.
    #[test]
    fn edge_list_dedups() {
        let t = Topology::parse_edge_list("0 1\n1 0 # again\n2 2\n\n1 2 7ms\n").unwrap();
        assert_eq!(t.nodes(), 3);
        assert_eq!(t.edges(), &[(0, 1), (1, 2)]);
        assert_eq!(t.link_latency(2, 1), Some(Duration::from_millis(7)));
        assert!(Topology::parse_edge_list("0\n").is_err());
    }

    /// Small shapes have the links they should.
    #[test]
    fn small_shapes() {
        assert_eq!(Topology::ring(2).unwrap().edges(), &[(0, 1)]);
        assert_eq!(Topology::ring(3).unwrap().edges().len(), 3);
        assert_eq!(Topology::line(4).unwrap().edges().len(), 3);
        assert_eq!(Topology::star(4).unwrap().degrees(), vec![3, 1, 1, 1]);
        assert_eq!("file:x.txt".parse(), Ok(TopologySpec::File("x.txt".into())));
        assert_eq!(Topology::star(4).unwrap().name(), "star");
        let random = Topology::random(10, 4, 9).unwrap();
        assert_eq!((random.name(), random.seed()), ("random", Some(9)));
    }
}
