//! Delivery curves as data: `Curve`, bounded-size builders, the compact per-broadcast `DeliveryTimes`, and the min/median/max `Band`.

/// Most points one [`Curve`] keeps, however many deliveries it summarises.
pub const MAX_CURVE_POINTS: usize = 200;

/// Buckets one [`DeliveryTimes`] keeps: its memory is at most this many `u32`s
/// (2 KiB). Once the buckets have widened, the longest offset lies in their
/// upper half, so a time is early by less than 2/`TIMELINE_BUCKETS` of it.
pub const TIMELINE_BUCKETS: usize = 512;

/// Width of a [`DeliveryTimes`] bucket before any delivery has come later than
/// `TIMELINE_BUCKETS` of them (51.2 ms): 100 µs, so link latencies in whole
/// tenths of a millisecond stay exact.
pub const FIRST_BUCKET_US: u64 = 100;

/// One delivery curve: the fraction of the nodes a broadcast could reach that
/// had it (y, 0..=1) at each time since it was sent (x, milliseconds).
///
/// Points are in order of time, and neither coordinate ever decreases.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// What the legend calls it (e.g. `broadcast 3`).
    pub label: String,
    /// `(ms since the broadcast, fraction reached)`.
    pub points: Vec<(f64, f64)>,
}

impl Curve {
    /// The curve of one broadcast from the delivery offsets of the nodes that
    /// had it (milliseconds since the send, sorted ascending), out of
    /// `expected` nodes that could have (the sender not counted).
    ///
    /// It starts at `(0, 0)` and ends at the last offset with
    /// `offsets.len() / expected` (1 when `expected` is 0, capped at 1), and
    /// has at most [`MAX_CURVE_POINTS`] points: exact steps when the distinct
    /// offsets are few, the step function sampled at even times otherwise.
    /// Offsets that are not finite are skipped.
    pub fn from_offsets(label: impl Into<String>, sorted_ms: &[f64], expected: u64) -> Curve {
        let mut steps: Vec<(f64, u64)> = Vec::new();
        for &t in sorted_ms.iter().filter(|t| t.is_finite()) {
            match steps.last_mut() {
                Some((last, n)) if *last == t => *n += 1,
                _ => steps.push((t, 1)),
            }
        }
        Curve::from_steps(label, steps, expected)
    }

    /// The same from `(ms, deliveries at that time)` pairs in ascending time
    /// (the form a histogram or [`DeliveryTimes`] gives).
    pub fn from_steps(
        label: impl Into<String>,
        steps: impl IntoIterator<Item = (f64, u64)>,
        expected: u64,
    ) -> Curve {
        let frac = |n: u64| {
            if expected == 0 {
                1.0
            } else {
                (n as f64 / expected as f64).min(1.0)
            }
        };
        // Cumulative counts; a time earlier than the one before it (bad input)
        // is moved up to it so that the curve never runs backwards.
        let mut cum: Vec<(f64, f64)> = Vec::new();
        let mut total = 0u64;
        for (t, n) in steps {
            if !t.is_finite() || n == 0 {
                continue;
            }
            total += n;
            let t = cum.last().map_or(t.max(0.0), |&(last, _)| t.max(last));
            match cum.last_mut() {
                Some(last) if last.0 == t => last.1 = frac(total),
                _ => cum.push((t, frac(total))),
            }
        }
        let mut points = vec![(0.0, 0.0)];
        let Some(&(end, last)) = cum.last() else {
            if expected == 0 {
                points.push((0.0, 1.0));
            }
            return Curve {
                label: label.into(),
                points,
            };
        };
        // The start point and two per step.
        if 2 * cum.len() < MAX_CURVE_POINTS {
            let mut before = 0.0;
            for &(t, y) in &cum {
                points.push((t, before));
                points.push((t, y));
                before = y;
            }
        } else {
            let span = MAX_CURVE_POINTS - 2;
            for j in 1..=span {
                let x = end * j as f64 / (span + 1) as f64;
                points.push((x, value_at(&cum, x)));
            }
            points.push((end, last));
        }
        Curve {
            label: label.into(),
            points,
        }
    }

    /// The last point's fraction (0 for a curve of no points).
    pub fn end_fraction(&self) -> f64 {
        self.points.last().map_or(0.0, |p| p.1)
    }

    /// The last point's time (0 for a curve of no points).
    pub fn end_ms(&self) -> f64 {
        self.points.last().map_or(0.0, |p| p.0)
    }
}

/// Reads a step function (ascending points) at a time.
type ReadAt = fn(&[(f64, f64)], f64) -> f64;

/// The value of a step function given as ascending points at time `x`: the
/// `y` of the last point at or before `x` (0 before the first).
fn value_at(points: &[(f64, f64)], x: f64) -> f64 {
    let k = points.partition_point(|p| p.0 <= x);
    if k == 0 {
        0.0
    } else {
        points[k - 1].1
    }
}

/// The value just before time `x` (the left limit at a step).
fn value_before(points: &[(f64, f64)], x: f64) -> f64 {
    let k = points.partition_point(|p| p.0 < x);
    if k == 0 {
        0.0
    } else {
        points[k - 1].1
    }
}

/// Many curves summarised: at each time, the least, median and greatest
/// fraction over them. Each list has at most `2 * MAX_CURVE_POINTS` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Least reached at each time: `(ms, fraction)`.
    pub min: Vec<(f64, f64)>,
    /// Median reached at each time.
    pub median: Vec<(f64, f64)>,
    /// Most reached at each time.
    pub max: Vec<(f64, f64)>,
    /// How many curves it summarises.
    pub curves: usize,
}

impl Band {
    /// The band of `curves`, each read as a step function that stays at its
    /// last value after its last point. When the curves' distinct times are
    /// few the band keeps their steps exactly; else it samples even times.
    pub fn of(curves: &[Curve]) -> Band {
        let mut xs: Vec<f64> = curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.0))
            .filter(|x| x.is_finite())
            .collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let exact = xs.len() <= MAX_CURVE_POINTS;
        if !exact {
            let end = xs.last().copied().unwrap_or(0.0);
            let span = MAX_CURVE_POINTS - 1;
            xs = (0..=span).map(|j| end * j as f64 / span as f64).collect();
        }
        let mut band = Band {
            min: Vec::new(),
            median: Vec::new(),
            max: Vec::new(),
            curves: curves.len(),
        };
        let mut ys = Vec::with_capacity(curves.len());
        for &x in &xs {
            let sides: &[ReadAt] = if exact {
                &[value_before, value_at]
            } else {
                &[value_at]
            };
            for side in sides {
                ys.clear();
                ys.extend(curves.iter().map(|c| side(&c.points, x)));
                ys.sort_by(f64::total_cmp);
                let (Some(&lo), Some(&hi)) = (ys.first(), ys.last()) else {
                    continue;
                };
                let n = ys.len();
                let median = (ys[(n - 1) / 2] + ys[n / 2]) / 2.0;
                band.min.push((x, lo));
                band.median.push((x, median));
                band.max.push((x, hi));
            }
        }
        band
    }
}

/// When the nodes delivered one broadcast, in [`TIMELINE_BUCKETS`] buckets of
/// equal width that double (merging pairs) whenever a delivery comes later
/// than they reach: at most 2 KiB per broadcast, however many nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryTimes {
    /// Bucket width in microseconds (0 until the first delivery).
    width_us: u64,
    /// Deliveries per bucket; empty until the first delivery.
    counts: Vec<u32>,
    /// Deliveries recorded.
    total: u64,
}

impl DeliveryTimes {
    /// Records one delivery `offset_us` microseconds after the send.
    pub fn record(&mut self, offset_us: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; TIMELINE_BUCKETS];
            self.width_us = FIRST_BUCKET_US;
        }
        while offset_us / self.width_us >= TIMELINE_BUCKETS as u64 {
            for i in 0..TIMELINE_BUCKETS / 2 {
                self.counts[i] = self.counts[2 * i].saturating_add(self.counts[2 * i + 1]);
            }
            self.counts[TIMELINE_BUCKETS / 2..].fill(0);
            self.width_us = self.width_us.saturating_mul(2);
        }
        // The loop above left offset_us / width_us below TIMELINE_BUCKETS.
        let k = (offset_us / self.width_us) as usize;
        self.counts[k] = self.counts[k].saturating_add(1);
        self.total += 1;
    }

    /// Deliveries recorded.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// `(ms, deliveries)` per non-empty bucket, at its start: each time is
    /// early by less than one bucket width.
    pub fn steps(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let width = self.width_us;
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(move |(k, &n)| ((k as u64 * width) as f64 / 1000.0, u64::from(n)))
    }

    /// The delivery curve out of `expected` reachable nodes (see [`Curve::from_offsets`]).
    pub fn curve(&self, label: impl Into<String>, expected: u64) -> Curve {
        Curve::from_steps(label, self.steps(), expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_monotone(c: &Curve) {
        for w in c.points.windows(2) {
            assert!(w[1].0 >= w[0].0 && w[1].1 >= w[0].1, "{:?}", w);
        }
    }

    /// Few distinct offsets give exact steps ending at the delivered fraction.
    #[test]
    fn few_offsets_give_exact_steps() {
        let c = Curve::from_offsets("b", &[5.0, 5.0, 10.0, 10.0, 10.0, 15.0], 8);
        assert_eq!(
            c.points,
            vec![
                (0.0, 0.0),
                (5.0, 0.0),
                (5.0, 0.25),
                (10.0, 0.25),
                (10.0, 0.625),
                (15.0, 0.625),
                (15.0, 0.75)
            ]
        );
        assert_eq!((c.end_ms(), c.end_fraction()), (15.0, 0.75));
    }

    /// A million distinct offsets still make at most MAX_CURVE_POINTS points,
    /// in order, ending exactly at the last offset and the delivered fraction.
    #[test]
    fn many_offsets_are_bounded_monotone_and_end_right() {
        let offsets: Vec<f64> = (0..1_000_000).map(|i| f64::from(i) * 0.01 + 1.0).collect();
        let c = Curve::from_offsets("b", &offsets, 1_250_000);
        assert!(c.points.len() <= MAX_CURVE_POINTS, "{}", c.points.len());
        assert!(c.points.len() > MAX_CURVE_POINTS / 2);
        assert_monotone(&c);
        assert_eq!(c.points[0], (0.0, 0.0));
        assert_eq!(c.end_ms(), *offsets.last().unwrap());
        assert_eq!(c.end_fraction(), 0.8);
    }

    /// Nobody to reach reads as all reached; more deliveries than expected cap at 1.
    #[test]
    fn degenerate_denominators() {
        assert_eq!(Curve::from_offsets("b", &[], 0).end_fraction(), 1.0);
        assert_eq!(Curve::from_offsets("b", &[], 5).end_fraction(), 0.0);
        assert_eq!(
            Curve::from_offsets("b", &[1.0, 2.0, 3.0], 2).end_fraction(),
            1.0
        );
    }

    /// The buckets stay at TIMELINE_BUCKETS however late deliveries come, keep
    /// every delivery, and exact multiples of the width keep their time.
    #[test]
    fn delivery_times_stay_small() {
        let mut d = DeliveryTimes::default();
        assert_eq!(d.steps().count(), 0);
        for ms in [5u64, 10, 10, 15] {
            d.record(ms * 1000);
        }
        assert_eq!(
            d.steps().collect::<Vec<_>>(),
            vec![(5.0, 1), (10.0, 2), (15.0, 1)]
        );
        for i in 0..100_000u64 {
            d.record(i * 37_000);
        }
        assert_eq!(d.counts.len(), TIMELINE_BUCKETS);
        assert_eq!(d.total(), 100_004);
        assert_eq!(d.steps().map(|s| s.1).sum::<u64>(), 100_004);
        let c = d.curve("b", 100_004);
        assert!(c.points.len() <= MAX_CURVE_POINTS);
        assert_monotone(&c);
        assert_eq!(c.end_fraction(), 1.0);
        let last = 99_999.0 * 37.0;
        assert!(c.end_ms() <= last && c.end_ms() > last * (1.0 - 2.0 / TIMELINE_BUCKETS as f64));
    }

    /// The band of identical curves is that curve; of different ones, it
    /// brackets them and its median lies between.
    #[test]
    fn band_brackets_curves() {
        let a = Curve::from_offsets("a", &[5.0, 10.0], 2);
        let b = Curve::from_offsets("b", &[5.0, 15.0], 2);
        let same = Band::of(&[a.clone(), a.clone()]);
        assert_eq!(same.min, same.max);
        let band = Band::of(&[a, b.clone(), b]);
        assert_eq!(band.curves, 3);
        for k in 0..band.min.len() {
            let (lo, mid, hi) = (band.min[k].1, band.median[k].1, band.max[k].1);
            assert!(lo <= mid && mid <= hi, "{k}: {lo} {mid} {hi}");
        }
        assert!(band.min.contains(&(10.0, 0.5)) && band.max.contains(&(10.0, 1.0)));
        assert_eq!(band.max.last(), Some(&(15.0, 1.0)));
    }
}
