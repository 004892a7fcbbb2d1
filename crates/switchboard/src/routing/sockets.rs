//! Who has sockets open, for routing: an agent can be offered chats only while a workspace
//! socket is open, and a queued customer with none for too long has gone. Sockets live on
//! whichever node a client reached, so each node counts its own ([`NodeSockets`]) and reports
//! them to the instance's router, which adds up every node's counts ([`SocketTable`]) and
//! forgets a node that has stopped reporting (it died, and its sockets with it).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::request::SocketReport;

/// Open sockets of one instance's agents and customers on one node.
#[derive(Debug, Default, Clone)]
struct Counts {
    agents: HashMap<String, usize>,
    customers: HashMap<String, usize>,
}

/// This node's own counts, by instance.
#[derive(Default)]
pub struct NodeSockets {
    instances: Mutex<HashMap<String, Counts>>,
}

impl NodeSockets {
    /// One of the agent's sockets opened or closed; returns how many are open now.
    pub fn agent(&self, instance_id: &str, agent: &str, opened: bool) -> usize {
        let mut instances = self.instances.lock().expect("sockets lock");
        let agents = &mut instances.entry(instance_id.to_string()).or_default().agents;
        let count = agents.entry(agent.to_string()).or_default();
        *count = if opened {
            *count + 1
        } else {
            count.saturating_sub(1)
        };
        let open = *count;
        if open == 0 {
            agents.remove(agent);
        }
        open
    }

    /// The customer of the contact now has `open` sockets here.
    pub fn customer(&self, instance_id: &str, contact: &str, open: usize) {
        let mut instances = self.instances.lock().expect("sockets lock");
        let customers = &mut instances
            .entry(instance_id.to_string())
            .or_default()
            .customers;
        if open == 0 {
            customers.remove(contact);
        } else {
            customers.insert(contact.to_string(), open);
        }
    }

    /// Everything this node has open for the instance, as a full report.
    pub fn report(&self, instance_id: &str, node: &str) -> SocketReport {
        let counts = self
            .instances
            .lock()
            .expect("sockets lock")
            .get(instance_id)
            .cloned()
            .unwrap_or_default();
        SocketReport {
            node: node.to_string(),
            full: true,
            agents: counts.agents.into_iter().collect(),
            customers: counts.customers.into_iter().collect(),
        }
    }
}

/// What a report or an expiry may have changed: the agents and contacts whose totals to look at
/// again.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Touched {
    pub agents: BTreeSet<String>,
    pub customers: BTreeSet<String>,
}

/// The router's view: every node's counts for its instance.
#[derive(Default)]
pub struct SocketTable {
    nodes: HashMap<String, (Counts, Instant)>,
}

impl SocketTable {
    pub fn apply(&mut self, report: SocketReport, at: Instant) -> Touched {
        let mut touched = Touched::default();
        let (counts, heard) = self
            .nodes
            .entry(report.node)
            .or_insert_with(|| (Counts::default(), at));
        *heard = at;
        if report.full {
            touched
                .agents
                .extend(counts.agents.drain().map(|(id, _)| id));
            touched
                .customers
                .extend(counts.customers.drain().map(|(id, _)| id));
        }
        for (agent, open) in report.agents {
            set(&mut counts.agents, &agent, open);
            touched.agents.insert(agent);
        }
        for (contact, open) in report.customers {
            set(&mut counts.customers, &contact, open);
            touched.customers.insert(contact);
        }
        touched
    }

    /// Forgets the nodes not heard from within `silence` before `now`.
    pub fn expire(&mut self, now: Instant, silence: Duration) -> Touched {
        let mut touched = Touched::default();
        self.nodes.retain(|node, (counts, heard)| {
            let alive = now.saturating_duration_since(*heard) < silence;
            if !alive {
                tracing::warn!(%node, "no socket report from node; counting its sockets as closed");
                touched.agents.extend(counts.agents.keys().cloned());
                touched.customers.extend(counts.customers.keys().cloned());
            }
            alive
        });
        touched
    }

    pub fn agent_total(&self, agent: &str) -> usize {
        self.nodes
            .values()
            .filter_map(|(c, _)| c.agents.get(agent))
            .sum()
    }

    pub fn customer_total(&self, contact: &str) -> usize {
        self.nodes
            .values()
            .filter_map(|(c, _)| c.customers.get(contact))
            .sum()
    }
}

fn set(counts: &mut HashMap<String, usize>, id: &str, open: usize) {
    if open == 0 {
        counts.remove(id);
    } else {
        counts.insert(id.to_string(), open);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(node: &str, full: bool, agents: &[(&str, usize)]) -> SocketReport {
        SocketReport {
            node: node.into(),
            full,
            agents: agents.iter().map(|(a, n)| (a.to_string(), *n)).collect(),
            customers: Vec::new(),
        }
    }

    #[test]
    fn a_node_counts_its_own_sockets_and_reports_them_whole() {
        let sockets = NodeSockets::default();
        assert_eq!(sockets.agent("i", "ana", true), 1);
        assert_eq!(sockets.agent("i", "ana", true), 2);
        assert_eq!(sockets.agent("i", "ana", false), 1);
        sockets.customer("i", "c1", 2);
        sockets.customer("i", "c2", 1);
        sockets.customer("i", "c2", 0);
        let full = sockets.report("i", "n1");
        assert!(full.full);
        assert_eq!(full.agents, vec![("ana".to_string(), 1)]);
        assert_eq!(full.customers, vec![("c1".to_string(), 2)]);
        assert!(sockets.report("other", "n1").agents.is_empty());
    }

    #[test]
    fn totals_add_up_nodes_and_a_silent_node_is_forgotten() {
        let mut table = SocketTable::default();
        let start = Instant::now();
        table.apply(report("n1", true, &[("ana", 1)]), start);
        let touched = table.apply(report("n2", false, &[("ana", 2), ("ben", 1)]), start);
        assert_eq!(touched.agents.len(), 2);
        assert_eq!(table.agent_total("ana"), 3);
        // A full report replaces what was known of the node.
        let touched = table.apply(report("n2", true, &[("ben", 1)]), start);
        assert!(touched.agents.contains("ana"), "ana's count changed");
        assert_eq!(table.agent_total("ana"), 1);
        // n1 keeps reporting, n2 falls silent.
        let later = start + Duration::from_secs(10);
        table.apply(report("n1", true, &[("ana", 1)]), later);
        let touched = table.expire(later, Duration::from_secs(5));
        assert_eq!(touched.agents, BTreeSet::from(["ben".to_string()]));
        assert_eq!(table.agent_total("ben"), 0);
        assert_eq!(table.agent_total("ana"), 1);
    }
}
