//! Link latency: fixed or drawn per link from a uniform range (per-link values come from the topology).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

/// The latency used when none is given.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(5);

/// Longest one-way link latency accepted: far beyond any real network, small
/// enough that virtual time (in nanoseconds, `u64`) never overflows in a run.
pub const MAX_LATENCY: Duration = Duration::from_secs(60);

/// How long a frame takes over a link, one way. A link keeps the latency it
/// got when it formed, so frames on one link arrive in the order they were
/// sent, as on TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Every link the same.
    Fixed(Duration),
    /// Each link drawn once, uniformly in `lo..=hi` (microsecond steps), from the run's RNG.
    Uniform {
        /// The least latency.
        lo: Duration,
        /// The most latency.
        hi: Duration,
    },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Fixed(DEFAULT_LATENCY)
    }
}

impl Latency {
    /// The latency of a new link.
    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { lo, hi } => {
                let (lo_us, hi_us) = (micros(lo), micros(hi.max(lo)));
                Duration::from_micros(rng.random_range(lo_us..=hi_us))
            }
        }
    }

    /// The shortest latency this model gives.
    pub fn min(&self) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { lo, .. } => lo,
        }
    }

    /// The longest latency this model gives.
    pub fn max(&self) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { lo, hi } => hi.max(lo),
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl FromStr for Latency {
    type Err = String;
    /// `5ms` (fixed) or `2ms..10ms` (uniform per link).
    fn from_str(s: &str) -> Result<Self, String> {
        let lat = match s.split_once("..") {
            Some((lo, hi)) => {
                let (lo, hi) = (parse_duration(lo)?, parse_duration(hi)?);
                if hi < lo {
                    return Err(format!("latency range {s:?} runs backwards"));
                }
                Latency::Uniform { lo, hi }
            }
            None => Latency::Fixed(parse_duration(s)?),
        };
        if lat.max() > MAX_LATENCY {
            return Err(format!(
                "latency {s:?} is above the limit of {}s",
                MAX_LATENCY.as_secs()
            ));
        }
        Ok(lat)
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Latency::Fixed(d) => write!(f, "{}", show(*d)),
            Latency::Uniform { lo, hi } => write!(f, "{}..{}", show(*lo), show(*hi)),
        }
    }
}

/// A duration as people write it: `ms` when whole milliseconds, else `us`.
fn show(d: Duration) -> String {
    if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}us", d.as_micros())
    }
}

/// Parses `250us`, `5ms`, `1.5ms` or `2s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("duration {s:?} needs a unit (us, ms or s)"))?;
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("duration {s:?} does not start with a number"))?;
    let scale = match unit {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}: use us, ms or s")),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("duration {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed and range forms parse and print back.
    #[test]
    fn parses_and_prints() {
        let fixed: Latency = "5ms".parse().unwrap();
        assert_eq!(fixed, Latency::Fixed(Duration::from_millis(5)));
        let range: Latency = "2ms..10ms".parse().unwrap();
        assert_eq!(range.to_string(), "2ms..10ms");
        assert_eq!("250us".parse::<Latency>().unwrap().to_string(), "250us");
        assert!("10ms..2ms".parse::<Latency>().is_err());
        assert!("5".parse::<Latency>().is_err());
        assert!("2h".parse::<Latency>().is_err());
    }
}
