//! `loadgen`: measures a running Switchboard through its public protocol only, next to the
//! relay ceiling, and checks correctness while it measures.
//!
//! # Layout
//! - `target`: the servers driven (Switchboard's APIs and sockets; the relay).
//! - `socket`: participant sockets (subscribe, heartbeats, reading and checking items).
//! - `run`: one run: setup, open-loop sending, draining, losses, mass reconnect.
//! - `scenarios`: latency, throughput, idle, catchup.
//! - `tracker`: histograms and counters; `procstat`: the server's memory and CPU;
//!   `report`: JSON, markdown and PNG output.

mod procstat;
mod report;
mod run;
mod scenarios;
mod socket;
mod target;
mod tracker;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::report::{Report, TargetResult};
use crate::scenarios::{Plan, Subject};
use crate::target::{SwitchboardTarget, Target};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Scenario {
    Latency,
    Throughput,
    Idle,
    Catchup,
    /// Chat starts per second and the server's CPU per start; with `--flow-contact-flow`, the
    /// same into that flow, in the same run.
    Starts,
}

#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    about = "Load generator for Switchboard (and the relay ceiling)"
)]
struct Cli {
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Switchboard's base URL; several nodes of one cluster as a comma-separated list (each
    /// chat's customer then talks to one node and its bot to the next).
    #[arg(long)]
    switchboard: Option<String>,
    #[arg(long)]
    switchboard_pid: Option<u32>,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    #[arg(long, env = "LOADGEN_ACCESS_KEY", default_value = "")]
    access_key: String,
    #[arg(long, env = "LOADGEN_SECRET_KEY", default_value = "")]
    secret_key: String,
    #[arg(long, default_value = "")]
    instance: String,
    #[arg(long, default_value = "")]
    contact_flow: String,
    /// `starts`: a second flow to start chats in after `--contact-flow`, to compare the two.
    #[arg(long)]
    flow_contact_flow: Option<String>,
    /// The relay's base URL: when given, the same workload runs against it too.
    #[arg(long)]
    relay: Option<String>,
    #[arg(long)]
    relay_pid: Option<u32>,
    /// Concurrent chats (two sockets each).
    #[arg(long, default_value_t = 100)]
    chats: usize,
    /// Messages per second in total (the starting rate for `throughput`).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds of sending (of holding, for `idle`; per step, for `throughput`).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    #[arg(long, default_value_t = 100)]
    message_bytes: usize,
    /// Set-up requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Spread sockets over this many source addresses 127.0.0.1..N (past the ephemeral-port limit).
    #[arg(long, default_value_t = 1)]
    source_ips: u8,
    /// `throughput`: the highest p99 delivery, in milliseconds, at which a rate still counts as
    /// sustained.
    #[arg(long, default_value_t = 10.0)]
    max_p99_ms: f64,
    /// Write PREFIX.json, PREFIX.md and PREFIX.png.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("loadgen: correctness check FAILED (lost, duplicated or reordered messages)");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    let plan = Plan {
        chats: cli.chats,
        rate: cli.rate,
        duration: Duration::from_secs_f64(cli.duration),
        message_bytes: cli.message_bytes,
        concurrency: cli.concurrency,
        max_p99_ms: cli.max_p99_ms,
        source_ips: if cli.source_ips > 1 {
            (1..=cli.source_ips)
                .map(|i| Ipv4Addr::new(127, 0, 0, i))
                .collect()
        } else {
            Vec::new()
        },
    };
    let mut subjects = Vec::new();
    if let Some(url) = &cli.switchboard {
        let mut flows = vec![cli.contact_flow.clone()];
        if cli.scenario == Scenario::Starts {
            flows.extend(cli.flow_contact_flow.clone());
        }
        for flow in flows {
            subjects.push(Subject {
                target: Target::Switchboard(SwitchboardTarget {
                    nodes: url
                        .split(',')
                        .map(|node| node.trim().trim_end_matches('/').to_string())
                        .collect(),
                    region: cli.region.clone(),
                    access_key: cli.access_key.clone(),
                    secret_key: cli.secret_key.clone(),
                    instance_id: cli.instance.clone(),
                    contact_flow_id: flow,
                }),
                pid: cli.switchboard_pid,
            });
        }
    }
    if let Some(url) = &cli.relay {
        if !matches!(cli.scenario, Scenario::Catchup | Scenario::Starts) {
            subjects.push(Subject {
                target: Target::Relay {
                    url: url.trim_end_matches('/').into(),
                },
                pid: cli.relay_pid,
            });
        }
    }
    anyhow::ensure!(!subjects.is_empty(), "give --switchboard and/or --relay");

    let mut results: Vec<TargetResult> = Vec::new();
    for subject in subjects {
        let name = subject.target.name();
        eprintln!("loadgen: {:?} against {name}", cli.scenario);
        let result = match cli.scenario {
            Scenario::Latency => scenarios::latency(&plan, subject).await?,
            Scenario::Throughput => scenarios::throughput(&plan, subject).await?,
            Scenario::Idle => scenarios::idle(&plan, subject).await?,
            Scenario::Catchup => scenarios::catchup(&plan, subject).await?,
            Scenario::Starts => scenarios::starts(&plan, subject).await?,
        };
        results.push(result);
    }

    let findings = findings(cli.scenario, &results);
    let cpu_ratio = cpu_ratio(&results);
    let report = Report {
        scenario: format!("{:?}", cli.scenario).to_lowercase(),
        date: date(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: report::machine(),
        params: serde_json::json!({
            "chats": plan.chats, "rate": plan.rate, "duration_s": cli.duration,
            "message_bytes": plan.message_bytes, "source_ips": cli.source_ips,
        }),
        results,
        findings,
        cpu_ratio,
    };
    print!("{}", report::markdown(&report));
    if let Some(prefix) = &cli.out {
        report::write(&report, prefix)?;
    }
    Ok(report.results.iter().all(TargetResult::correct))
}

/// Ratios to the relay and how each figure compares with the targets.
fn findings(scenario: Scenario, results: &[TargetResult]) -> Vec<String> {
    let mut out = Vec::new();
    let sb = results.iter().find(|r| r.target == "switchboard");
    let relay = results.iter().find(|r| r.target == "relay");
    if let (Some(sb), Some(relay)) = (sb, relay) {
        if let (Some(a), Some(b)) = (&sb.delivery, &relay.delivery) {
            out.push(format!(
                "p99 delivery: switchboard {:.2} ms vs relay {:.2} ms ({:.1}x the ceiling's)",
                a.p99_ms,
                b.p99_ms,
                a.p99_ms / b.p99_ms.max(0.001)
            ));
        }
        if scenario == Scenario::Throughput {
            let rate = |r: &TargetResult| r.extra["highest_sustained_rate"].as_f64().unwrap_or(0.0);
            out.push(format!(
                "highest sustained rate: switchboard {:.0}/s vs relay {:.0}/s = {:.0}% of the ceiling (target ≥ 50%)",
                rate(sb),
                rate(relay),
                rate(sb) / rate(relay).max(1.0) * 100.0
            ));
        }
        if let (Some(ratio), Some(a), Some(b)) = (
            cpu_ratio(results),
            sb.server.as_ref().and_then(|s| s.cpu_us_per_message),
            relay.server.as_ref().and_then(|s| s.cpu_us_per_message),
        ) {
            out.push(format!(
                "CPU per delivered message: switchboard {a:.1} µs vs relay {b:.1} µs = {ratio:.2}x the relay's"
            ));
        }
        if let (Some(a), Some(b)) = (
            sb.server.as_ref().and_then(|s| s.rss_per_socket_bytes),
            relay.server.as_ref().and_then(|s| s.rss_per_socket_bytes),
        ) {
            out.push(format!(
                "memory per socket: switchboard {a} B vs relay {b} B"
            ));
        }
    }
    if scenario == Scenario::Starts {
        for r in results {
            out.push(format!(
                "{}: {:.0} chats started per second, {:.2} ms of server CPU per chat",
                r.target,
                r.extra["chats_per_s"].as_f64().unwrap_or(0.0),
                r.extra["cpu_ms_per_chat"].as_f64().unwrap_or(0.0)
            ));
        }
    }
    for r in results {
        if !r.correct() {
            out.push(format!(
                "{}: CORRECTNESS FAILURE: lost {}, lost echoes {}, duplicates {}, reordered {}",
                r.target, r.lost, r.lost_echo, r.duplicates, r.reordered
            ));
            out.extend(r.lost_examples.iter().map(|e| format!("  {e}")));
        }
    }
    out
}

/// Switchboard's CPU per delivered message over the relay's in the same run.
fn cpu_ratio(results: &[TargetResult]) -> Option<f64> {
    let per_message = |name: &str| {
        results
            .iter()
            .find(|r| r.target == name)
            .and_then(|r| r.server.as_ref()?.cpu_us_per_message)
    };
    let (sb, relay) = (per_message("switchboard")?, per_message("relay")?);
    (relay > 0.0).then(|| sb / relay)
}

fn date() -> String {
    let output = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output();
    output
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
