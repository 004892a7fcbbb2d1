//! One run against one target: set up chats and their sockets, send at a fixed rate (open loop),
//! wait for deliveries to drain, count what was lost, and take everything down again.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::socket::{self, Reader};
use crate::target::{Chat, Side, Target};
use crate::tracker::Tracker;

pub struct Settings {
    pub chats: usize,
    /// Setup requests in flight at once.
    pub concurrency: usize,
    pub message_bytes: usize,
    /// Who sends; the other participant's socket is where delivery is measured.
    pub sender: Side,
    pub source_ips: Vec<Ipv4Addr>,
}

/// A socket by chat index and whether it is the customer's.
type SocketKey = (usize, bool);

pub struct Run {
    pub target: Target,
    pub http: reqwest::Client,
    pub tracker: Arc<Tracker>,
    pub chats: Vec<Arc<Chat>>,
    pub settings: Settings,
    sockets: Mutex<HashMap<SocketKey, (CancellationToken, JoinHandle<()>)>>,
    opened: std::sync::atomic::AtomicUsize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Losses {
    /// Acknowledged messages the other participant never received.
    pub lost: u64,
    /// Acknowledged messages the sender's own socket never received (Switchboard echoes).
    pub lost_echo: u64,
    /// The first few losses, described, to start an investigation from.
    pub examples: Vec<String>,
}

/// How many losses are described one by one.
const LOSS_EXAMPLES: usize = 10;

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

impl Losses {
    fn describe(&mut self, chat: usize, n: u32, socket: &str, highest: Option<u32>) {
        if self.examples.len() < LOSS_EXAMPLES {
            self.examples.push(format!(
                "chat {chat}, message {n}: never reached the {socket} socket, which saw up to {}",
                highest.map_or("nothing".to_string(), |h| h.to_string())
            ));
        }
    }
}

impl Run {
    /// Creates the chats and opens and subscribes both sockets of each.
    pub async fn setup(target: Target, settings: Settings) -> anyhow::Result<Run> {
        let run = Run {
            target,
            http: http_client(),
            tracker: Arc::new(Tracker::new()),
            chats: Vec::new(),
            settings,
            sockets: Mutex::default(),
            opened: Default::default(),
        };
        let created: Vec<anyhow::Result<(Arc<Chat>, String, String)>> =
            futures::stream::iter(0..run.settings.chats)
                .map(|index| {
                    let run = &run;
                    async move {
                        let (chat, customer_url, bot_url) =
                            run.target.create_chat(&run.http, index).await?;
                        let chat = Arc::new(chat);
                        run.open_socket(&chat, Side::Customer, &customer_url)
                            .await?;
                        run.open_socket(&chat, Side::Bot, &bot_url).await?;
                        Ok((chat, customer_url, bot_url))
                    }
                })
                .buffered(run.settings.concurrency)
                .collect()
                .await;
        let mut run = run;
        for result in created {
            run.chats.push(result?.0);
        }
        Ok(run)
    }

    pub fn socket_count(&self) -> usize {
        self.sockets.lock().expect("sockets").len()
    }

    async fn open_socket(&self, chat: &Arc<Chat>, side: Side, url: &str) -> anyhow::Result<()> {
        let n = self.opened.fetch_add(1, Ordering::Relaxed);
        let source = (!self.settings.source_ips.is_empty())
            .then(|| self.settings.source_ips[n % self.settings.source_ips.len()]);
        let mut ws = socket::open(url, source).await?;
        if self.target.protocol() == crate::target::Protocol::Switchboard {
            socket::subscribe(&mut ws).await?;
        }
        let reader = Reader {
            chat: chat.clone(),
            side,
            primary: side != self.settings.sender,
            protocol: self.target.protocol(),
            tracker: self.tracker.clone(),
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(reader.run(ws, stop.clone()));
        let key = (chat.index, side == Side::Customer);
        if let Some((old, _)) = self
            .sockets
            .lock()
            .expect("sockets")
            .insert(key, (stop, task))
        {
            old.cancel();
        }
        Ok(())
    }

    /// Sends at `rate` messages per second for `duration`, spread round-robin over the chats, on a
    /// schedule that does not wait for answers (open loop). Each chat has at most one message in
    /// flight, so its messages have one order; a chat still busy is skipped for the next idle one.
    pub async fn drive(self: &Arc<Self>, rate: f64, duration: Duration) -> f64 {
        let start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut scheduled: u64 = 0;
        let mut cursor = 0usize;
        let padding = "x".repeat(self.settings.message_bytes.saturating_sub(24));
        let padding: Arc<str> = padding.into();
        let in_flight = tokio_util::task::TaskTracker::new();
        while start.elapsed() < duration {
            tick.tick().await;
            let due = (start.elapsed().as_secs_f64() * rate) as u64;
            while scheduled < due {
                scheduled += 1;
                let mut picked = None;
                for _ in 0..self.chats.len() {
                    let chat = &self.chats[cursor % self.chats.len()];
                    cursor += 1;
                    if !chat.busy.swap(true, Ordering::AcqRel) {
                        picked = Some(chat.clone());
                        break;
                    }
                }
                let Some(chat) = picked else {
                    self.tracker
                        .error("no idle chat (server slower than the rate)");
                    continue;
                };
                let run = self.clone();
                let padding = padding.clone();
                in_flight.spawn(async move { run.send_one(&chat, &padding).await });
            }
        }
        let achieved =
            self.tracker.sent.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
        // Every send is answered before anyone counts: a message acknowledged after the losses
        // were counted would otherwise look lost.
        in_flight.close();
        in_flight.wait().await;
        achieved
    }

    async fn send_one(&self, chat: &Chat, padding: &str) {
        let n = chat.next_n.fetch_add(1, Ordering::Relaxed);
        let sent_at = self.tracker.now_us();
        let content = format!("{}:{n}:{sent_at}:{padding}", chat.index);
        self.tracker.sent.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = self
            .target
            .send(&self.http, chat, self.settings.sender, content)
            .await;
        match result {
            Ok(()) => {
                self.tracker
                    .record_send(started.elapsed().as_micros() as u64);
                chat.acked.lock().expect("acked").push(n);
                self.tracker.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err(kind) => self.tracker.error(format!("SendMessage {kind}")),
        }
        chat.busy.store(false, Ordering::Release);
    }

    /// Waits (bounded) until every acknowledged message reached every socket that should get it.
    pub async fn drain(&self, within: Duration) {
        let echoes = self.target.protocol() == crate::target::Protocol::Switchboard;
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let losses = self.losses();
            if losses.lost == 0 && (!echoes || losses.lost_echo == 0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn losses(&self) -> Losses {
        let echoes = self.target.protocol() == crate::target::Protocol::Switchboard;
        let mut losses = Losses::default();
        for chat in &self.chats {
            let acked = chat.acked.lock().expect("acked");
            let receiver = chat
                .participant(self.settings.sender.other())
                .inbox
                .lock()
                .expect("inbox");
            let sender = chat
                .participant(self.settings.sender)
                .inbox
                .lock()
                .expect("inbox");
            for n in acked.iter() {
                if !receiver.seen.contains(n) {
                    losses.lost += 1;
                    losses.describe(chat.index, *n, "receiver", receiver.highest);
                }
                if echoes && !sender.seen.contains(n) {
                    losses.lost_echo += 1;
                    losses.describe(chat.index, *n, "sender (echo)", sender.highest);
                }
            }
        }
        losses
    }

    /// Drops every socket of `side` at once and reconnects each as a client would: a new
    /// connection, subscribe, then GetTranscript from the last message it had. Returns how long
    /// until the last one had caught up.
    pub async fn mass_reconnect(self: &Arc<Self>, side: Side) -> anyhow::Result<Duration> {
        let start = Instant::now();
        {
            let sockets = self.sockets.lock().expect("sockets");
            for chat in &self.chats {
                if let Some((stop, _)) = sockets.get(&(chat.index, side == Side::Customer)) {
                    stop.cancel();
                }
            }
        }
        let results: Vec<anyhow::Result<()>> = futures::stream::iter(self.chats.clone())
            .map(|chat| {
                let run = self.clone();
                async move {
                    let url = run.target.reconnect(&run.http, &chat, side).await?;
                    run.open_socket(&chat, side, &url).await?;
                    let after = chat
                        .participant(side)
                        .inbox
                        .lock()
                        .expect("inbox")
                        .last_id
                        .clone();
                    for (id, content) in run
                        .target
                        .transcript_after(&run.http, &chat, side, after)
                        .await?
                    {
                        if let Some((index, n, sent_us)) = socket::parse_content(&content) {
                            if index == chat.index {
                                let mut inbox = chat.participant(side).inbox.lock().expect("inbox");
                                run.tracker.receive(
                                    &mut inbox,
                                    n,
                                    sent_us,
                                    Some(&id),
                                    side != run.settings.sender,
                                    false,
                                );
                            }
                        }
                    }
                    Ok(())
                }
            })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;
        for result in results {
            if let Err(e) = result {
                self.tracker.error(format!("reconnect: {e:#}"));
            }
        }
        Ok(start.elapsed())
    }

    /// Closes every socket.
    pub async fn shutdown(&self) {
        let sockets: Vec<_> = self.sockets.lock().expect("sockets").drain().collect();
        for (_, (stop, _)) in &sockets {
            stop.cancel();
        }
        for (_, (_, task)) in sockets {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}
