//! Transcript paging as a property, against the real server through the AWS SDK: over random
//! interleavings of messages, events (typing, a bot joining) and receipts, GetTranscript paged
//! in any direction and sort order, with any page size and start position, returns every item
//! from the start position on exactly once and in order.
//!
//! The oracle is one unpaged read of the whole transcript (it never holds more than 100 items);
//! where a start position points in it follows from the positions' meaning (an item's Id: that
//! item; a time: the first item at or after it scanning forward, the last at or before it
//! scanning backward; the n most recent: the n-th item from the end).

use aws_sdk_connectparticipant::types::{ScanDirection, SortKey, StartPosition};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::common::*;

#[derive(Debug, Clone)]
enum Write {
    CustomerMessage,
    BotMessage,
    Typing,
    /// A receipt for the i-th message sent so far (modulo their number).
    Read(usize),
    Delivered(usize),
    BotJoins,
}

#[derive(Debug, Clone)]
enum Start {
    None,
    /// The i-th item of the transcript (modulo its length).
    Id(usize),
    Time(usize),
    MostRecent(i32),
}

#[derive(Debug, Clone)]
struct Paging {
    page_size: i32,
    forward: bool,
    ascending: bool,
    start: Start,
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        4 => Just(Write::CustomerMessage),
        3 => Just(Write::BotMessage),
        2 => Just(Write::Typing),
        2 => (0usize..50).prop_map(Write::Read),
        1 => (0usize..50).prop_map(Write::Delivered),
        1 => Just(Write::BotJoins),
    ]
}

fn paging() -> impl Strategy<Value = Paging> {
    let start = prop_oneof![
        Just(Start::None),
        (0usize..100).prop_map(Start::Id),
        (0usize..100).prop_map(Start::Time),
        (1i32..=100).prop_map(Start::MostRecent),
    ];
    (1i32..=12, any::<bool>(), any::<bool>(), start).prop_map(
        |(page_size, forward, ascending, start)| Paging {
            page_size,
            forward,
            ascending,
            start,
        },
    )
}

/// An item as the test follows it: its Id and AbsoluteTime.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    id: String,
    time: String,
}

struct Case<'a> {
    server: &'a TestServer,
    participant: aws_sdk_connectparticipant::Client,
    customer: String,
    bots: Vec<String>,
    contact_id: String,
    messages: Vec<String>,
}

impl Case<'_> {
    async fn apply(&mut self, write: &Write) {
        let p = &self.participant;
        match write {
            Write::CustomerMessage | Write::BotMessage => {
                let token = match (write, self.bots.last()) {
                    (Write::BotMessage, Some(bot)) => bot.clone(),
                    _ => self.customer.clone(),
                };
                let sent = p
                    .send_message()
                    .connection_token(token)
                    .content_type("text/plain")
                    .content(format!("message {}", self.messages.len()))
                    .send()
                    .await
                    .expect("SendMessage");
                self.messages.push(sent.id().unwrap().to_string());
            }
            Write::Typing => {
                p.send_event()
                    .connection_token(&self.customer)
                    .content_type(TYPING)
                    .send()
                    .await
                    .expect("typing");
            }
            Write::Read(i) | Write::Delivered(i) => {
                if self.messages.is_empty() {
                    return;
                }
                let message = &self.messages[i % self.messages.len()];
                let kind = if matches!(write, Write::Read(_)) {
                    READ
                } else {
                    DELIVERED
                };
                let token = self.bots.last().unwrap_or(&self.customer);
                p.send_event()
                    .connection_token(token)
                    .content_type(kind)
                    .content(format!(r#"{{"messageId":"{message}"}}"#))
                    .send()
                    .await
                    .expect("receipt");
            }
            Write::BotJoins => {
                let (_, token) = add_bot(self.server, &self.contact_id, "Bot").await;
                let (connection, _) = connect_participant(self.server, &token).await;
                self.bots.push(connection);
            }
        }
    }

    /// The whole transcript in one read, oldest first.
    async fn everything(&self) -> Vec<Seen> {
        let all = self
            .participant
            .get_transcript()
            .connection_token(&self.customer)
            .max_results(100)
            .scan_direction(ScanDirection::Backward)
            .sort_order(SortKey::Ascending)
            .send()
            .await
            .expect("GetTranscript");
        assert!(all.next_token().is_none(), "the oracle fits one page");
        seen(all.transcript())
    }

    /// What paging returns, page by page, each page as listed.
    async fn pages(&self, paging: &Paging, start: Option<StartPosition>) -> Vec<Vec<Seen>> {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .participant
                .get_transcript()
                .connection_token(&self.customer)
                .max_results(paging.page_size)
                .scan_direction(if paging.forward {
                    ScanDirection::Forward
                } else {
                    ScanDirection::Backward
                })
                .sort_order(if paging.ascending {
                    SortKey::Ascending
                } else {
                    SortKey::Descending
                })
                .set_start_position(if token.is_none() { start.clone() } else { None })
                .set_next_token(token.clone())
                .send()
                .await
                .expect("a page");
            pages.push(seen(page.transcript()));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return pages;
            }
            assert!(pages.len() <= 101, "paging does not end: {paging:?}");
        }
    }
}

fn seen(items: &[aws_sdk_connectparticipant::types::Item]) -> Vec<Seen> {
    items
        .iter()
        .map(|i| Seen {
            id: i.id().unwrap().to_string(),
            time: i.absolute_time().unwrap().to_string(),
        })
        .collect()
}

/// The start position to send, and what paging from it must return, oldest first.
fn expected(all: &[Seen], paging: &Paging) -> (Option<StartPosition>, Vec<Seen>) {
    let pick = |i: usize| &all[i % all.len()];
    let (start, from) = match paging.start {
        // Without a position the scan starts now: backward covers everything, forward nothing.
        Start::None => (
            None,
            if paging.forward {
                all.len()
            } else {
                all.len() - 1
            },
        ),
        Start::Id(i) => {
            let item = pick(i);
            let at = all.iter().position(|s| s == item).unwrap();
            (Some(StartPosition::builder().id(&item.id).build()), at)
        }
        Start::Time(i) => {
            let time = pick(i).time.clone();
            // Times are ISO-8601 with milliseconds and rise with the transcript, so text order
            // is time order.
            let at = if paging.forward {
                all.iter().position(|s| s.time >= time).unwrap()
            } else {
                all.iter().rposition(|s| s.time <= time).unwrap()
            };
            (
                Some(StartPosition::builder().absolute_time(time).build()),
                at,
            )
        }
        Start::MostRecent(n) => {
            let at = all.len().saturating_sub(n as usize);
            (Some(StartPosition::builder().most_recent(n).build()), at)
        }
    };
    let expected = if paging.forward {
        all[from.min(all.len())..].to_vec()
    } else {
        all[..=from].to_vec()
    };
    (start, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcript_pages_return_every_item_once_and_in_order_from_any_start() {
    let server = TestServer::start().await;
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    let strategy = (
        proptest::collection::vec(write(), 1..40),
        proptest::collection::vec(paging(), 1..6),
    );
    let result = runner.run(&strategy, |(writes, pagings)| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let chat = start_chat(&server, "Paging").await;
                let mut case = Case {
                    server: &server,
                    participant: server.participant(),
                    customer: chat.connection_token.clone(),
                    bots: Vec::new(),
                    contact_id: chat.contact_id.clone(),
                    messages: Vec::new(),
                };
                for write in &writes {
                    case.apply(write).await;
                }
                let all = case.everything().await;
                prop_assert!(!all.is_empty());
                for id in &case.messages {
                    prop_assert!(all.iter().any(|s| &s.id == id), "message {} missing", id);
                }
                for paging in &pagings {
                    let (start, expected) = expected(&all, paging);
                    let pages = case.pages(paging, start).await;
                    let mut got: Vec<Seen> = Vec::new();
                    for page in &pages {
                        prop_assert!(page.len() <= paging.page_size as usize);
                        // Each page is listed in the order asked for.
                        let mut oldest_first = page.clone();
                        if !paging.ascending {
                            oldest_first.reverse();
                        }
                        let positions: Vec<usize> = oldest_first
                            .iter()
                            .map(|s| all.iter().position(|a| a == s).expect("a known item"))
                            .collect();
                        prop_assert!(
                            positions.windows(2).all(|w| w[0] < w[1]),
                            "a page out of order: {:?} for {:?}",
                            page,
                            paging
                        );
                        if paging.forward {
                            got.extend(oldest_first);
                        } else {
                            got.splice(0..0, oldest_first);
                        }
                    }
                    prop_assert_eq!(&got, &expected, "{:?}", paging);
                }
                Ok(())
            })
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
