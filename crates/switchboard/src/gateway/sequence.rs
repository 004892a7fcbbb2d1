//! Where one socket stands in its contact's sequence of items, and what each delivery from the
//! bus asks of it. The bus may bring an item twice (a gap fill already sent it, or two nodes both
//! published it), late, or not at all (NATS dropped it); the socket still sends each transcript
//! item exactly once and in order:
//! - an item at or below what the socket already sent is skipped;
//! - the next item is sent;
//! - an item beyond the next is sent after every item between, read from the store;
//! - ephemeral deliveries (typing, receipts: no sequence number) are always sent.

/// The next sequence number a socket must send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequence {
    next: i64,
}

/// What a socket does with one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Already sent: drop it.
    Skip,
    /// Send it.
    Send,
    /// Send the stored items `from..until` first, then it.
    FillThenSend { from: i64, until: i64 },
}

impl Sequence {
    /// A socket that starts once the transcript holds items up to `last`.
    pub fn after(last: i64) -> Self {
        Self { next: last + 1 }
    }

    /// The step for a delivery with sequence number `seq` (`None`: ephemeral); the socket counts
    /// it as sent from here on (if the fill fails, the socket closes and the client catches up
    /// from the transcript, so nothing is skipped silently).
    pub fn on(&mut self, seq: Option<i64>) -> Step {
        let Some(seq) = seq else {
            return Step::Send;
        };
        if seq < self.next {
            return Step::Skip;
        }
        let step = if seq == self.next {
            Step::Send
        } else {
            Step::FillThenSend {
                from: self.next,
                until: seq,
            }
        };
        self.next = seq + 1;
        step
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_next_item_is_sent_an_old_one_skipped_and_a_gap_filled_first() {
        let mut s = Sequence::after(4);
        assert_eq!(s.on(Some(5)), Step::Send);
        assert_eq!(s.on(Some(5)), Step::Skip);
        assert_eq!(s.on(None), Step::Send);
        assert_eq!(s.on(Some(9)), Step::FillThenSend { from: 6, until: 9 });
        assert_eq!(s.on(Some(7)), Step::Skip);
        assert_eq!(s.on(Some(10)), Step::Send);
    }

    /// What the socket sends for `deliveries` (sequence numbers; `None` is ephemeral), the store
    /// holding every item: transcript items by their number, ephemeral ones as `None`.
    fn sent(start_after: i64, deliveries: &[Option<i64>]) -> Vec<Option<i64>> {
        let mut s = Sequence::after(start_after);
        let mut out = Vec::new();
        for &seq in deliveries {
            match s.on(seq) {
                Step::Skip => {}
                Step::Send => out.push(seq),
                Step::FillThenSend { from, until } => {
                    out.extend((from..until).map(Some));
                    out.push(seq);
                }
            }
        }
        out
    }

    proptest! {
        /// Whatever order, duplication or loss the bus produces, the socket sends every item
        /// after its start up to the highest one delivered, exactly once and in order, and
        /// every ephemeral delivery.
        #[test]
        fn every_item_is_sent_exactly_once_in_order_whatever_the_bus_does(
            start_after in 0i64..5,
            deliveries in proptest::collection::vec(
                prop_oneof![4 => (1i64..40).prop_map(Some), 1 => Just(None)],
                0..80,
            ),
        ) {
            let out = sent(start_after, &deliveries);
            let items: Vec<i64> = out.iter().flatten().copied().collect();
            let highest = deliveries.iter().flatten().copied().filter(|&s| s > start_after).max();
            let expected: Vec<i64> = match highest {
                Some(h) => (start_after + 1..=h).collect(),
                None => Vec::new(),
            };
            prop_assert_eq!(items, expected);
            let ephemeral = deliveries.iter().filter(|d| d.is_none()).count();
            prop_assert_eq!(out.iter().filter(|d| d.is_none()).count(), ephemeral);
        }
    }
}
