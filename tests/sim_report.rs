//! One report for both engines, through `peerchat sim`: the same JSON keys and table rows, `null` and `-` where an engine cannot measure, and a `--plot` that could not be written refused before anything runs.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use peerchat::sim::Report;

/// Runs `peerchat` with `args`.
fn peerchat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peerchat"))
        .args(args)
        .output()
        .expect("run peerchat")
}

/// Runs `peerchat` with `args`, which must succeed, and returns its stdout.
fn stdout_of(args: &[&str]) -> String {
    let out = peerchat(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A small model run and a small cluster run, with these extra arguments.
const MODEL: &[&str] = &["sim", "--nodes", "60", "--broadcasts", "2"];
const CLUSTER: &[&str] = &[
    "sim",
    "--engine",
    "cluster",
    "--nodes",
    "30",
    "--broadcasts",
    "2",
];

fn with(base: &[&'static str], extra: &[&'static str]) -> Vec<&'static str> {
    base.iter().chain(extra).copied().collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .expect("one JSON object")
        .keys()
        .cloned()
        .collect()
}

/// Both engines print one flat JSON object with the same keys (those
/// `Report::keys` names, in the same units); what an engine cannot measure
/// is `null`, not made up.
#[test]
fn both_engines_print_the_same_json_keys() {
    let model: Value = serde_json::from_str(&stdout_of(&with(MODEL, &["--json"]))).unwrap();
    let cluster: Value = serde_json::from_str(&stdout_of(&with(CLUSTER, &["--json"]))).unwrap();
    let declared: BTreeSet<String> = Report::keys().map(String::from).collect();
    assert_eq!(keys(&model), declared);
    assert_eq!(keys(&cluster), declared);

    assert_eq!(
        (&model["engine"], &cluster["engine"]),
        (&"model".into(), &"cluster".into())
    );
    assert_eq!(
        (&model["clock"], &cluster["clock"]),
        (&"virtual".into(), &"wall".into())
    );
    assert_eq!(model["deliveries"], 2 * 59);
    assert_eq!(cluster["deliveries"], 2 * 29);
    for r in [&model, &cluster] {
        assert_eq!(r["delivery_ratio"], 1.0);
        assert_eq!(r["broadcasts_complete"], 2);
        assert!(
            r["peak_rss_bytes"].as_u64().unwrap() > 1 << 20,
            "bytes, not MiB"
        );
        assert!(r["setup_wall_ms"].as_f64().unwrap() > 0.0);
        assert_eq!(r["time_to_all_ms"]["count"], 2);
        assert!(r["frames_per_delivery"].as_f64().unwrap() > 1.0);
    }
    for only_model in [
        "latency",
        "hops_max",
        "events",
        "setup_virtual_ms",
        "per_broadcast_wall_ms",
    ] {
        assert!(!model[only_model].is_null(), "{only_model}");
        assert!(cluster[only_model].is_null(), "{only_model}");
    }
    assert!(model["transport"].is_null());
    assert_eq!(cluster["transport"], "memory");
}

/// Both engines print the same table: the same rows in the same order, `-`
/// where the engine does not measure, and the note saying what "connected
/// at send" and "survivors" mean.
#[test]
fn both_engines_print_the_same_table_rows() {
    let model = stdout_of(MODEL);
    let cluster = stdout_of(CLUSTER);
    // The label column: everything before the value, which starts after the padding.
    let labels = |table: &str| -> Vec<String> {
        table
            .lines()
            .map(|l| l.get(..42).unwrap_or(l).trim_end().to_string())
            .collect()
    };
    assert_eq!(labels(&model), labels(&cluster));
    let row = |table: &str, label: &str| -> String {
        let line = table
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no row {label:?} in\n{table}"));
        line[42..].trim().to_string()
    };
    assert_eq!(row(&model, "transport"), "-");
    assert_eq!(row(&cluster, "transport"), "memory");
    assert_eq!(row(&cluster, "hops, most"), "-");
    assert_eq!(row(&model, "deliveries "), "118");
    assert!(row(&model, "time to all").ends_with("ms  (n=2)"));
    assert!(row(&cluster, "peak RSS").ends_with("MiB"));
    for table in [&model, &cluster] {
        assert!(table.contains("connected at send: reachable from the sender"));
        assert!(table.contains("survivors: those of them still running"));
    }
}

/// A fresh directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peerchat-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `--plot` into a folder that does not exist, under a file, or onto a
/// folder is refused, on either engine, before the simulation starts (the
/// model logs `connecting` when it does): a non-zero exit and a message
/// naming what is wrong, and no report.
#[test]
fn unwritable_plot_is_refused_before_the_run() {
    let dir = scratch("plot-refused");
    let file = dir.join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let cases = [
        (dir.join("missing/curve.svg"), "does not exist"),
        (file.join("curve.svg"), "is not a folder"),
        (dir.clone(), "is a folder"),
    ];
    for (engine, size) in [("model", "5000"), ("cluster", "200")] {
        for (path, why) in &cases {
            let path = path.to_str().unwrap();
            let args = [
                "-v", "sim", "--engine", engine, "--nodes", size, "--plot", path,
            ];
            let out = peerchat(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{args:?} succeeded");
            assert!(stderr.contains(why) && stderr.contains(path), "{stderr}");
            assert!(!stderr.contains("connecting"), "the run started: {stderr}");
            assert!(out.stdout.is_empty(), "a report was printed");
        }
    }
    assert!(!dir.join("missing").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
