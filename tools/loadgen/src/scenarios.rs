//! The scenarios: latency at a fixed rate, the highest sustained rate, idle memory per socket,
//! catch-up after a mass reconnect, and chat starts. Each measures and checks correctness at once.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::procstat;
use crate::report::{ServerUse, TargetResult};
use crate::run::{Run, Settings};
use crate::target::{Side, Target};
use crate::tracker::Latency;

/// What a scenario is given.
pub struct Plan {
    pub chats: usize,
    pub rate: f64,
    pub duration: Duration,
    pub message_bytes: usize,
    pub concurrency: usize,
    pub source_ips: Vec<std::net::Ipv4Addr>,
    /// `throughput`: a step holds while its p99 delivery stays within this.
    pub max_p99_ms: f64,
}

/// A target and, when known, the pid of its server process.
pub struct Subject {
    pub target: Target,
    pub pid: Option<u32>,
}

fn settings(plan: &Plan, sender: Side, chats: usize) -> Settings {
    Settings {
        chats,
        concurrency: plan.concurrency,
        message_bytes: plan.message_bytes,
        sender,
        source_ips: plan.source_ips.clone(),
    }
}

/// What the server used: `cpu` is its CPU seconds over the time the percentage is of, and
/// `traffic` its CPU seconds over all of the scenario's messages with how many were delivered.
fn server_use(
    pid: Option<u32>,
    rss_before: Option<u64>,
    sockets: usize,
    cpu: Option<(f64, Duration)>,
    traffic: Option<(f64, u64)>,
) -> Option<ServerUse> {
    let pid = pid?;
    let rss = procstat::rss_bytes(pid).ok()?;
    Some(ServerUse {
        rss_bytes: rss,
        rss_per_socket_bytes: rss_before
            .filter(|_| sockets > 0)
            .map(|b| rss.saturating_sub(b) / sockets as u64),
        cpu_percent: cpu.map(|(seconds, over)| seconds / over.as_secs_f64() * 100.0),
        cpu_seconds: traffic.map(|(seconds, _)| seconds),
        cpu_us_per_message: traffic
            .filter(|(_, delivered)| *delivered > 0)
            .map(|(seconds, delivered)| seconds * 1e6 / delivered as f64),
    })
}

/// CPU seconds since `before`, with the messages delivered so far.
fn traffic(run: &Run, pid: Option<u32>, before: Option<f64>) -> Option<(f64, u64)> {
    let delivered = run.tracker.delivered.load(Ordering::Relaxed)
        + run.tracker.recovered.load(Ordering::Relaxed);
    before.zip(cpu_now(pid)).map(|(a, b)| (b - a, delivered))
}

fn result(run: &Run, rate: f64, achieved: f64, duration: Duration) -> TargetResult {
    let t = &run.tracker;
    let (delivery, send) = t.take_window();
    let losses = run.losses();
    TargetResult {
        target: run.target.name().into(),
        chats: run.chats.len(),
        sockets: run.socket_count(),
        rate_requested: rate,
        rate_achieved: achieved,
        duration_s: duration.as_secs_f64(),
        sent: t.sent.load(Ordering::Relaxed),
        acked: t.acked.load(Ordering::Relaxed),
        delivered: t.delivered.load(Ordering::Relaxed),
        echoed: t.echoed.load(Ordering::Relaxed),
        recovered: t.recovered.load(Ordering::Relaxed),
        lost: losses.lost,
        lost_echo: losses.lost_echo,
        lost_examples: losses.examples,
        duplicates: t.duplicates.load(Ordering::Relaxed),
        reordered: t.reordered.load(Ordering::Relaxed),
        errors: t.errors(),
        delivery: (!delivery.is_empty()).then(|| Latency::of(&delivery)),
        send: (!send.is_empty()).then(|| Latency::of(&send)),
        server: None,
        extra: json!({}),
    }
}

fn cpu_now(pid: Option<u32>) -> Option<f64> {
    pid.and_then(|p| procstat::cpu_seconds(p).ok())
}

/// `latency`: C chats, R messages per second in total, for D seconds.
pub async fn latency(plan: &Plan, subject: Subject) -> anyhow::Result<TargetResult> {
    let rss_before = subject.pid.and_then(|p| procstat::rss_bytes(p).ok());
    let run =
        Arc::new(Run::setup(subject.target, settings(plan, Side::Customer, plan.chats)).await?);
    run.tracker.take_window();
    let cpu_before = cpu_now(subject.pid);
    let started = Instant::now();
    eprintln!(
        "loadgen: {} chats ready; sending {}/s for {:?}",
        run.chats.len(),
        plan.rate,
        plan.duration
    );
    let achieved = run.drive(plan.rate, plan.duration).await;
    let cpu = cpu_before
        .zip(cpu_now(subject.pid))
        .map(|(a, b)| (b - a, started.elapsed()));
    run.drain(Duration::from_secs(10)).await;
    let traffic = traffic(&run, subject.pid, cpu_before);
    let mut out = result(&run, plan.rate, achieved, plan.duration);
    out.server = server_use(subject.pid, rss_before, run.socket_count(), cpu, traffic);
    run.shutdown().await;
    Ok(out)
}

/// `throughput`: raises the rate step by step until p99 delivery passes 10 ms, errors appear, or
/// the rate is not reached; reports the highest rate that held.
pub async fn throughput(plan: &Plan, subject: Subject) -> anyhow::Result<TargetResult> {
    let run =
        Arc::new(Run::setup(subject.target, settings(plan, Side::Customer, plan.chats)).await?);
    run.tracker.take_window();
    let mut rate = plan.rate;
    let mut steps = Vec::new();
    let traffic_before = cpu_now(subject.pid);
    let mut best: Option<(f64, Latency)> = None;
    for _ in 0..30 {
        let errors_before = run.tracker.error_count();
        let lost_before = run.losses().lost;
        let cpu_before = cpu_now(subject.pid);
        let started = Instant::now();
        let achieved = run.drive(rate, plan.duration).await;
        let cpu = cpu_before
            .zip(cpu_now(subject.pid))
            .map(|(a, b)| (b - a) / started.elapsed().as_secs_f64() * 100.0);
        run.drain(Duration::from_secs(5)).await;
        let (delivery, _) = run.tracker.take_window();
        let latency = Latency::of(&delivery);
        let errors = run.tracker.error_count() - errors_before;
        let lost = run.losses().lost - lost_before;
        // `drive` reports the average since its own start; sent counts are cumulative, so
        // measure this step's rate from its own count of deliveries instead.
        let step_rate = delivery.len() as f64 / plan.duration.as_secs_f64();
        let held = latency.p99_ms <= plan.max_p99_ms
            && errors == 0
            && lost == 0
            && step_rate >= rate * 0.95;
        steps.push(json!({"rate": rate, "achieved": step_rate, "p99_ms": latency.p99_ms, "errors": errors, "lost": lost, "cpu_percent": cpu, "held": held}));
        eprintln!("loadgen: {} at {rate:.0}/s: achieved {step_rate:.0}/s, p99 {:.2} ms, errors {errors}, held {held}", run.target.name(), latency.p99_ms);
        let _ = achieved;
        if !held {
            break;
        }
        best = Some((rate, latency));
        rate *= 1.25;
    }
    let mut out = result(
        &run,
        plan.rate,
        best.as_ref().map_or(0.0, |(r, _)| *r),
        plan.duration,
    );
    out.delivery = best.as_ref().map(|(_, l)| l.clone());
    out.extra = json!({"highest_sustained_rate": best.as_ref().map(|(r, _)| r), "steps": steps});
    let traffic = traffic(&run, subject.pid, traffic_before);
    out.server = server_use(subject.pid, None, run.socket_count(), None, traffic);
    run.shutdown().await;
    Ok(out)
}

/// `idle`: opens C chats and holds them with heartbeats; memory per socket and idle CPU.
pub async fn idle(plan: &Plan, subject: Subject) -> anyhow::Result<TargetResult> {
    let rss_before = subject.pid.and_then(|p| procstat::rss_bytes(p).ok());
    let setup_started = Instant::now();
    let run = Run::setup(subject.target, settings(plan, Side::Customer, plan.chats)).await?;
    let setup = setup_started.elapsed();
    let cpu_before = cpu_now(subject.pid);
    let held = Instant::now();
    tokio::time::sleep(plan.duration).await;
    let cpu = cpu_before
        .zip(cpu_now(subject.pid))
        .map(|(a, b)| (b - a, held.elapsed()));
    let mut out = result(&run, 0.0, 0.0, plan.duration);
    out.server = server_use(subject.pid, rss_before, run.socket_count(), cpu, None);
    out.extra = json!({
        "setup_s": setup.as_secs_f64(),
        "heartbeats_sent": run.tracker.heartbeats.load(Ordering::Relaxed),
        "heartbeat_replies": run.tracker.heartbeat_replies.load(Ordering::Relaxed),
    });
    run.shutdown().await;
    Ok(out)
}

/// `catchup`: the bot sends at R while every customer socket is dropped and reopened at once
/// halfway through; each customer catches up from GetTranscript. Every acknowledged message must
/// reach every customer.
pub async fn catchup(plan: &Plan, subject: Subject) -> anyhow::Result<TargetResult> {
    let run = Arc::new(Run::setup(subject.target, settings(plan, Side::Bot, plan.chats)).await?);
    run.tracker.take_window();
    let cpu_before = cpu_now(subject.pid);
    let driver = {
        let run = run.clone();
        let (rate, duration) = (plan.rate, plan.duration);
        tokio::spawn(async move { run.drive(rate, duration).await })
    };
    tokio::time::sleep(plan.duration / 2).await;
    let recovery = run.mass_reconnect(Side::Customer).await?;
    let achieved = driver.await?;
    let drain_started = Instant::now();
    run.drain(Duration::from_secs(30)).await;
    let mut out = result(&run, plan.rate, achieved, plan.duration);
    out.extra = json!({
        "reconnected_sockets": run.chats.len(),
        "reconnect_and_catch_up_s": recovery.as_secs_f64(),
        "drain_after_sending_s": drain_started.elapsed().as_secs_f64(),
    });
    let traffic = traffic(&run, subject.pid, cpu_before);
    out.server = server_use(subject.pid, None, run.socket_count(), None, traffic);
    run.shutdown().await;
    Ok(out)
}

/// `starts`: starts C chats as fast as `concurrency` allows (StartChatContact, a bot, both
/// connections, both sockets subscribed: a chat's flow has run up to its first wait by then);
/// chats started per second and the server's CPU per chat.
pub async fn starts(plan: &Plan, subject: Subject) -> anyhow::Result<TargetResult> {
    let flow = match &subject.target {
        Target::Switchboard(sb) => sb.contact_flow_id.clone(),
        Target::Relay { .. } => String::new(),
    };
    let cpu_before = cpu_now(subject.pid);
    let started = Instant::now();
    let run = Run::setup(subject.target, settings(plan, Side::Customer, plan.chats)).await?;
    let took = started.elapsed();
    let cpu = cpu_before.zip(cpu_now(subject.pid)).map(|(a, b)| b - a);
    let mut out = result(&run, 0.0, 0.0, took);
    out.target = format!("{} (flow {flow})", run.target.name());
    out.server = server_use(
        subject.pid,
        None,
        run.socket_count(),
        cpu.map(|c| (c, took)),
        None,
    );
    out.extra = json!({
        "contact_flow": flow,
        "setup_s": took.as_secs_f64(),
        "chats_per_s": run.chats.len() as f64 / took.as_secs_f64(),
        "cpu_ms_per_chat": cpu.map(|c| c * 1000.0 / run.chats.len().max(1) as f64),
    });
    run.shutdown().await;
    Ok(out)
}
