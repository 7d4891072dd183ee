//! Delivery-curve plots and the progress hook: the model's curves, the SVG they make, and `peerchat sim --plot`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use peerchat::sim::plot::{self, Curve, MAX_CURVE_POINTS};
use peerchat::sim::workload::{self, SimParams, Workload};
use peerchat::sim::{Progress, SimError};

/// A fresh directory of this test's own (removed by the test when it passes).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peerchat-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polylines of three points or more: the curves (axes, ticks and legend
/// samples are two-point lines).
fn long_polylines(svg: &str) -> usize {
    svg.split("<polyline")
        .skip(1)
        .filter(|el| {
            let points = el.split("points=\"").nth(1).unwrap_or("");
            let points = points.split('"').next().unwrap_or("");
            points.split_whitespace().count() >= 3
        })
        .count()
}

/// The text of every `<text>` element, in order.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|el| el.split_once('>'))
        .map(|(_, rest)| {
            rest.split("</text>")
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .collect()
}

/// The `y` of the `<text>` element whose text is `text`.
fn text_y(svg: &str, text: &str) -> f64 {
    svg.split("<text")
        .skip(1)
        .find(|el| {
            el.split_once('>')
                .is_some_and(|(_, r)| r.trim_start().starts_with(text))
        })
        .and_then(|el| el.split("y=\"").nth(1))
        .and_then(|y| y.split('"').next())
        .and_then(|y| y.parse().ok())
        .unwrap_or_else(|| panic!("no text {text:?}"))
}

fn assert_svg(svg: &str) {
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.trim_end().ends_with("</svg>"));
}

/// A 200-node model run has one curve per broadcast, each bounded, starting
/// at nobody and ending with everyone; the SVG draws each under the title.
#[test]
fn model_run_plots_its_broadcasts() {
    let params = SimParams {
        nodes: 200,
        broadcasts: Some(3),
        ..SimParams::default()
    };
    let report = workload::run(&params).unwrap();
    let curves = &report.delivery_curves;
    assert_eq!(curves.len(), 3);
    for c in curves {
        assert!(c.points.len() <= MAX_CURVE_POINTS);
        assert_eq!(c.points[0], (0.0, 0.0));
        assert_eq!(c.end_fraction(), 1.0, "{c:?}");
        let tta = report.deliveries.time_to_all_ms.as_ref().unwrap();
        assert_eq!(
            c.end_ms(),
            tta.max,
            "the curve ends when the last node had it"
        );
    }
    assert!(
        !report.deterministic_json().contains("delivery_curves"),
        "curves stay out of the JSON"
    );

    let dir = scratch("plot-model");
    let path = dir.join("curve.svg");
    let p = &report.run;
    let title = plot::title(&p.engine, &p.workload, p.nodes, p.mean_degree);
    plot::write_svg(&path, &title, curves).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert_svg(&svg);
    assert!(svg.contains(&format!(
        "model engine, w1, 200 nodes, degree {:.1}",
        p.mean_degree
    )));
    assert!(svg.contains("fraction of nodes reached"));
    // The three broadcasts of one sender on a fixed graph take the same paths:
    // drawn once, labelled for all three.
    assert!(svg.contains("broadcast 0 (+2 identical), reached 1.000"));
    assert_eq!(long_polylines(&svg), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Distinct curves get a line and a legend entry each; more than MAX_LINES
/// become a shaded band with its median. The legend sits under the chart,
/// off the data, and tick labels are plain milliseconds.
#[test]
fn lines_then_a_band() {
    let curve = |k: u32| {
        let offsets: Vec<f64> = (1..=50).map(|i| f64::from(i + k)).collect();
        Curve::from_offsets(format!("broadcast {k}"), &offsets, 50)
    };
    let dir = scratch("plot-lines");
    let few: Vec<Curve> = (0..3).map(curve).collect();
    plot::write_svg(&dir.join("few.svg"), "few", &few).unwrap();
    let svg = std::fs::read_to_string(dir.join("few.svg")).unwrap();
    assert_svg(&svg);
    assert_eq!(long_polylines(&svg), 3);
    for k in 0..3 {
        assert!(svg.contains(&format!("broadcast {k}, reached 1.000")));
    }

    let many: Vec<Curve> = (0..plot::MAX_LINES as u32 + 10).map(curve).collect();
    assert_eq!(many.len(), 15);
    plot::write_svg(&dir.join("many.svg"), "many", &many).unwrap();
    let svg = std::fs::read_to_string(dir.join("many.svg")).unwrap();
    assert_svg(&svg);
    assert!(svg.contains("<polygon"), "the band is shaded");
    assert!(svg.contains("min to max of 15 broadcasts") && svg.contains("median"));
    assert_eq!(long_polylines(&svg), 3, "min, median and max lines");
    let axis_title = text_y(&svg, "time since the broadcast (ms)");
    assert!(
        text_y(&svg, "median") > axis_title,
        "the legend is under the axis title"
    );
    let ticks = texts(&svg);
    assert!(ticks.iter().any(|t| t == "10") && !ticks.iter().any(|t| t.ends_with(".00")));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Nothing to plot, or nowhere to write it, is an error, not a panic.
#[test]
fn plot_errors() {
    let dir = scratch("plot-errors");
    let empty = plot::write_svg(&dir.join("x.svg"), "t", &[]);
    assert!(matches!(empty, Err(SimError::Plot(_))), "{empty:?}");
    let curve = Curve::from_offsets("b", &[1.0], 1);
    let nowhere = plot::write_svg(&dir.join("no/such/dir/x.svg"), "t", &[curve]);
    assert!(matches!(nowhere, Err(SimError::Plot(_))), "{nowhere:?}");
    let checked = plot::check_target(&dir.join("no/such/dir/x.svg"));
    assert!(matches!(checked, Err(SimError::Plot(_))), "{checked:?}");
    plot::check_target(&dir.join("fine.svg")).unwrap();
    assert!(
        !dir.join("fine.svg").exists(),
        "the check leaves nothing behind"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Remembers each call of the hook.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Progress for Log {
    fn stage(&self, name: &str, total: u64) {
        self.0.lock().unwrap().push(format!("{name} of {total}"));
    }
    fn advance(&self, done: u64) {
        self.0.lock().unwrap().push(done.to_string());
    }
    fn finish(&self) {
        self.0.lock().unwrap().push("finish".into());
    }
}

/// The hook hears building, connecting (in links, per batch) and each
/// broadcast, then one finish; and hearing it changes nothing in the run.
#[test]
fn progress_hears_every_stage() {
    let log = Arc::new(Log::default());
    let params = |progress: Option<Arc<dyn Progress>>| SimParams {
        nodes: 300,
        broadcasts: Some(3),
        progress,
        ..SimParams::default()
    };
    let told = workload::run(&params(Some(log.clone()))).unwrap();
    let links = told.run.links;
    let calls = log.0.lock().unwrap().clone();
    let expected = [
        "building of 0".to_string(),
        format!("connecting of {links}"),
        links.to_string(),
        "broadcasting of 3".into(),
        "1".into(),
        "2".into(),
        "3".into(),
        "finish".into(),
    ];
    assert_eq!(calls, expected);
    let untold = workload::run(&params(None)).unwrap();
    assert_eq!(told.deterministic_json(), untold.deterministic_json());
}

/// W4 reports one step per broadcast interval, and its slices replay the same run.
#[test]
fn w4_progress_per_interval() {
    let log = Arc::new(Log::default());
    let params = |progress: Option<Arc<dyn Progress>>| SimParams {
        workload: Workload::W4,
        nodes: 200,
        broadcasts: Some(10),
        progress,
        ..SimParams::default()
    };
    let told = workload::run(&params(Some(log.clone()))).unwrap();
    let calls = log.0.lock().unwrap().clone();
    let at = calls
        .iter()
        .position(|c| c == "broadcasting of 10")
        .unwrap();
    let steps: Vec<String> = (1..=10).map(|k| k.to_string()).collect();
    assert_eq!(calls[at + 1..at + 11], steps[..]);
    assert_eq!(told.delivery_curves.len(), 10);
    let untold = workload::run(&params(None)).unwrap();
    assert_eq!(told.deterministic_json(), untold.deterministic_json());
}

/// W2 and W3 parse, and the model refuses them, naming the cluster engine.
#[test]
fn w2_and_w3_need_the_cluster() {
    for w in ["w2", "W3"] {
        let workload: Workload = w.parse().unwrap();
        let params = SimParams {
            workload,
            nodes: 50,
            ..SimParams::default()
        };
        let err = workload::run(&params).unwrap_err().to_string();
        assert!(err.contains("--engine cluster"), "{err}");
    }
    assert!("w6".parse::<Workload>().is_err());
}

/// `peerchat sim --plot FILE --json`: one JSON line on stdout, nothing else,
/// and the SVG on disk (churn makes the curves differ: a band).
#[test]
fn cli_plot_keeps_json_clean() {
    let dir = scratch("plot-cli");
    let path = dir.join("curve.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_peerchat"))
        .args([
            "sim",
            "--nodes",
            "200",
            "--broadcasts",
            "25",
            "--churn",
            "10",
            "--latency",
            "2ms..10ms",
            "--json",
            "--plot",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["broadcasts_sent"], 25);
    assert_eq!(report["nodes_stopped"], 20);
    let svg = std::fs::read_to_string(&path).unwrap();
    assert_svg(&svg);
    assert!(svg.contains("min to max of 25 broadcasts"));

    let out = Command::new(env!("CARGO_BIN_EXE_peerchat"))
        .args(["sim", "--nodes", "50", "--workload", "w2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--engine cluster"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
