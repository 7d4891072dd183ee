//! The report's table: the macro that declares a section's fields once (struct, JSON keys, table rows), and how each value is shown, by the unit its key ends in.

/// Declares one section of [`Report`](super::Report) once: the struct, whose
/// field names are the JSON keys, and its table rows in the same order, each
/// with its label. A field added here is in the JSON and in the table. A key
/// ends in its unit where it has one (`_ms`, `_bytes`, `_pct`, `_per_s`), and
/// the table shows the value in that unit (see [`Cell`]).
macro_rules! section {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $field:ident: $ty:ty => $label:literal,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
        pub struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl $name {
            /// Its JSON keys, in table order.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field),)*];

            /// Its table rows, in order: each label and value (`-` when not measured).
            pub(crate) fn rows(&self) -> Vec<(&'static str, String)> {
                use $crate::sim::report::table::Cell;
                vec![$(($label, self.$field.cell(stringify!($field))),)*]
            }
        }
    };
}
pub(crate) use section;

use super::Percentiles;
use crate::sim::cluster::Transport;

/// A value as the table shows it, given its JSON key, which names the unit:
/// `_ms` milliseconds (`_ms_per_`: milliseconds per something), `_bytes` or
/// `bytes_` bytes (shown in KiB, MiB or GiB), `_pct` percent, `_per_s` a rate
/// per second; a ratio with six decimals; `None` (not measured by this
/// engine) as `-`.
pub(crate) trait Cell {
    fn cell(&self, key: &str) -> String;
}

impl Cell for u64 {
    fn cell(&self, key: &str) -> String {
        if key.ends_with("_bytes") || key.starts_with("bytes_") {
            bytes(*self)
        } else {
            self.to_string()
        }
    }
}

impl Cell for u32 {
    fn cell(&self, key: &str) -> String {
        u64::from(*self).cell(key)
    }
}

impl Cell for f64 {
    fn cell(&self, key: &str) -> String {
        if key.ends_with("_ms") {
            format!("{self:.3} ms")
        } else if key.contains("_ms_per_") {
            format!("{self:.4} ms")
        } else if key.ends_with("_pct") {
            format!("{self}%")
        } else if key.ends_with("_per_s") {
            format!("{self:.0} per second")
        } else if key.contains("ratio") {
            format!("{self:.6}")
        } else {
            format!("{self:.3}")
        }
    }
}

impl Cell for String {
    fn cell(&self, _key: &str) -> String {
        self.clone()
    }
}

impl Cell for Transport {
    fn cell(&self, _key: &str) -> String {
        self.to_string()
    }
}

impl<T: Cell> Cell for Option<T> {
    fn cell(&self, key: &str) -> String {
        match self {
            Some(v) => v.cell(key),
            None => "-".into(),
        }
    }
}

impl Cell for Percentiles {
    fn cell(&self, key: &str) -> String {
        let unit = if key.ends_with("_ms") { " ms" } else { "" };
        format!(
            "p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}{unit}  (n={})",
            self.p50, self.p90, self.p99, self.max, self.count
        )
    }
}

/// Items of a list the table shows; the JSON has them all.
pub const TABLE_LIST_MAX: usize = 5;

/// One line each, at most [`TABLE_LIST_MAX`] (the table indents the lines
/// after the first); `none` when empty.
impl Cell for Vec<String> {
    fn cell(&self, _key: &str) -> String {
        if self.is_empty() {
            return "none".into();
        }
        let mut lines: Vec<String> = self.iter().take(TABLE_LIST_MAX).cloned().collect();
        if self.len() > TABLE_LIST_MAX {
            lines.push(format!("({} more in --json)", self.len() - TABLE_LIST_MAX));
        }
        lines.join("\n")
    }
}

/// Bytes in the largest binary unit that leaves a number of at least 1.
fn bytes(b: u64) -> String {
    const KIB: f64 = 1024.0;
    let x = b as f64;
    if x >= KIB * KIB * KIB {
        format!("{:.2} GiB", x / (KIB * KIB * KIB))
    } else if x >= KIB * KIB {
        format!("{:.1} MiB", x / (KIB * KIB))
    } else if x >= KIB {
        format!("{:.1} KiB", x / KIB)
    } else {
        format!("{b} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key's unit decides how a value reads; a missing value is `-`.
    #[test]
    fn units_follow_the_key() {
        assert_eq!(1536u64.cell("rss_per_node_bytes"), "1.5 KiB");
        assert_eq!((100u64 << 20).cell("peak_rss_bytes"), "100.0 MiB");
        assert_eq!(512u64.cell("bytes_sent"), "512 bytes");
        assert_eq!(0.01234f64.cell("cpu_ms_per_delivery"), "0.0123 ms");
        assert_eq!(12u64.cell("nodes"), "12");
        assert_eq!(2.5f64.cell("setup_wall_ms"), "2.500 ms");
        assert_eq!(20.0f64.cell("churn_pct"), "20%");
        assert_eq!(0.5f64.cell("delivery_ratio"), "0.500000");
        assert_eq!(1234.4f64.cell("deliveries_per_s"), "1234 per second");
        assert_eq!(None::<f64>.cell("hops_mean"), "-");
        assert_eq!(Vec::<String>::new().cell("violation_samples"), "none");
        let many: Vec<String> = (0..8).map(|i| format!("v{i}")).collect();
        assert_eq!(
            many.cell("violation_samples"),
            "v0\nv1\nv2\nv3\nv4\n(3 more in --json)"
        );
        let p = Percentiles {
            p50: 1.0,
            p90: 2.0,
            p99: 3.0,
            max: 4.0,
            count: 9,
        };
        assert_eq!(
            p.cell("time_to_all_ms"),
            "p50 1.000  p90 2.000  p99 3.000  max 4.000 ms  (n=9)"
        );
    }
}
