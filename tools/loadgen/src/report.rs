//! What a scenario reports: one JSON file, a markdown summary and a PNG chart of the latency
//! distribution, side by side for Switchboard and the relay.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::tracker::Latency;

#[derive(Debug, Clone, Serialize, Default)]
pub struct ServerUse {
    pub rss_bytes: u64,
    /// Growth of the server's memory over the run, per open socket.
    pub rss_per_socket_bytes: Option<u64>,
    pub cpu_percent: Option<f64>,
    /// The server's CPU time (user + system) over the scenario's traffic.
    pub cpu_seconds: Option<f64>,
    /// That CPU time per delivered message, in microseconds: a figure that a shared, noisy
    /// machine moves far less than latency, and that compares the two servers of one run.
    pub cpu_us_per_message: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct TargetResult {
    pub target: String,
    pub chats: usize,
    pub sockets: usize,
    pub rate_requested: f64,
    pub rate_achieved: f64,
    pub duration_s: f64,
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
    pub echoed: u64,
    pub recovered: u64,
    pub lost: u64,
    pub lost_echo: u64,
    /// The first few losses, described.
    pub lost_examples: Vec<String>,
    pub duplicates: u64,
    pub reordered: u64,
    pub errors: BTreeMap<String, u64>,
    pub delivery: Option<Latency>,
    pub send: Option<Latency>,
    pub server: Option<ServerUse>,
    pub extra: Value,
}

impl TargetResult {
    pub fn correct(&self) -> bool {
        self.lost == 0 && self.lost_echo == 0 && self.duplicates == 0 && self.reordered == 0
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub date: String,
    pub command: String,
    pub machine: Value,
    pub params: Value,
    pub results: Vec<TargetResult>,
    /// Conclusions: ratios to the relay, targets met or missed.
    pub findings: Vec<String>,
    /// Switchboard's CPU per delivered message over the relay's, when both ran.
    pub cpu_ratio: Option<f64>,
}

pub fn machine() -> Value {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    serde_json::json!({"cores": cores, "memory_gib": (memory_kb as f64 / 1048576.0 * 10.0).round() / 10.0, "cpu": cpu})
}

pub fn write(report: &Report, prefix: &Path) -> anyhow::Result<()> {
    if let Some(dir) = prefix.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let with = |ext: &str| {
        prefix.with_file_name(format!(
            "{}.{ext}",
            prefix.file_name().unwrap_or_default().to_string_lossy()
        ))
    };
    std::fs::write(with("json"), serde_json::to_string_pretty(report)?)?;
    std::fs::write(with("md"), markdown(report))?;
    if report
        .results
        .iter()
        .any(|r| r.delivery.as_ref().is_some_and(|d| d.count > 0))
    {
        if let Err(e) = chart(report, &with("png")) {
            eprintln!("loadgen: no chart: {e:#}");
        }
    }
    Ok(())
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into())
}

pub fn markdown(report: &Report) -> String {
    let mut out = format!(
        "## {} ({})\n\nCommand: `{}`\n\nMachine: {}\n\n",
        report.scenario, report.date, report.command, report.machine
    );
    out.push_str("| target | chats | sockets | rate req/s | achieved/s | acked | delivery p50 ms | p90 | p99 | p99.9 | max | send p99 ms | lost | dup | reordered | errors | server RSS MiB | RSS/socket B | CPU % | CPU µs/msg |\n");
    out.push_str(
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &report.results {
        let d = r.delivery.as_ref();
        let server = r.server.clone().unwrap_or_default();
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {} | {} |\n",
            r.target,
            r.chats,
            r.sockets,
            r.rate_requested,
            r.rate_achieved,
            r.acked,
            ms(d.map(|d| d.p50_ms)),
            ms(d.map(|d| d.p90_ms)),
            ms(d.map(|d| d.p99_ms)),
            ms(d.map(|d| d.p999_ms)),
            ms(d.map(|d| d.max_ms)),
            ms(r.send.as_ref().map(|s| s.p99_ms)),
            r.lost + r.lost_echo,
            r.duplicates,
            r.reordered,
            r.errors.values().sum::<u64>(),
            server.rss_bytes as f64 / 1048576.0,
            server.rss_per_socket_bytes.map(|b| b.to_string()).unwrap_or_else(|| "–".into()),
            server.cpu_percent.map(|c| format!("{c:.0}")).unwrap_or_else(|| "–".into()),
            server.cpu_us_per_message.map(|c| format!("{c:.1}")).unwrap_or_else(|| "–".into()),
        ));
    }
    for r in &report.results {
        if !r.errors.is_empty() {
            out.push_str(&format!("\nErrors ({}): {:?}\n", r.target, r.errors));
        }
    }
    if !report.findings.is_empty() {
        out.push('\n');
        for f in &report.findings {
            out.push_str(&format!("- {f}\n"));
        }
    }
    out
}

fn chart(report: &Report, path: &Path) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let font = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
        .map_err(|e| anyhow::anyhow!("DejaVuSans.ttf (Debian package fonts-dejavu-core): {e}"))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| anyhow::anyhow!("font not usable"))?;

    let series: Vec<(&str, Vec<(f64, f64)>)> = report
        .results
        .iter()
        .filter_map(|r| {
            r.delivery
                .as_ref()
                .map(|d| (r.target.as_str(), d.curve.clone()))
        })
        .collect();
    let labels = [
        "0", "25", "50", "75", "90", "95", "99", "99.5", "99.9", "99.99", "max",
    ];
    let top = series
        .iter()
        .flat_map(|(_, c)| c.iter().map(|(_, v)| *v))
        .fold(1.0f64, f64::max)
        * 1.5;
    let root = BitMapBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Delivery latency by percentile: {}", report.scenario),
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0usize..labels.len() - 1, (0.01f64..top).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(labels.len())
        .x_label_formatter(&|i| labels.get(*i).copied().unwrap_or("").to_string())
        .x_desc("percentile")
        .y_desc("milliseconds (log)")
        .draw()?;
    let colours = [RGBColor(31, 119, 180), RGBColor(255, 127, 14)];
    for (i, (name, curve)) in series.iter().enumerate() {
        let colour = colours[i % colours.len()];
        chart
            .draw_series(LineSeries::new(
                curve.iter().enumerate().map(|(x, (_, v))| (x, v.max(0.01))),
                colour.stroke_width(2),
            ))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}
