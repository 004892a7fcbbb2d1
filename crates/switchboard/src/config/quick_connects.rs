//! Quick connects in the configuration: the destinations agents transfer chats to (a queue, or
//! another agent), each with the transfer flow a chat runs on the way, as a QuickConnect's
//! QueueConfig or UserConfig names one on Amazon Connect.

use std::collections::HashSet;

use serde::Deserialize;

use super::{ConfigError, Instance};
use crate::model::QuickConnectTarget;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickConnect {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The queue it transfers to; a quick connect names this or `user`.
    #[serde(default)]
    pub queue: Option<String>,
    /// The user (agent) it transfers to, by id or username.
    #[serde(default)]
    pub user: Option<String>,
    /// The contact flow of this instance (its id) the chat runs on the way: a transfer flow,
    /// which queues the chat with TransferContactToQueue. Left out: straight to the queue.
    #[serde(default)]
    pub flow: Option<String>,
}

impl QuickConnect {
    /// Where it sends a chat, as the API describes it.
    pub fn target(&self) -> QuickConnectTarget {
        let flow_id = self.flow.clone();
        match (&self.queue, &self.user) {
            (Some(queue_id), _) => QuickConnectTarget::Queue {
                queue_id: queue_id.clone(),
                flow_id,
            },
            (None, Some(user_id)) => QuickConnectTarget::User {
                user_id: user_id.clone(),
                flow_id,
            },
            (None, None) => unreachable!("validation gives every quick connect a queue or a user"),
        }
    }
}

impl Instance {
    pub fn quick_connect(&self, id: &str) -> Option<&QuickConnect> {
        self.quick_connects.iter().find(|q| q.id == id)
    }

    /// Checks that each quick connect names one destination this instance has, and a flow it
    /// has, under an id and a name of its own.
    pub(super) fn validate_quick_connects(&self, at: &str) -> Result<(), ConfigError> {
        let bad = |key: String, why: String| {
            Err(ConfigError(format!("invalid value for `{key}`: {why}")))
        };
        let (mut ids, mut names) = (HashSet::new(), HashSet::new());
        for (j, quick) in self.quick_connects.iter().enumerate() {
            let at = format!("{at}.quick_connects[{j}]");
            if quick.id.is_empty() || quick.id.contains('/') || !ids.insert(&quick.id) {
                return bad(
                    format!("{at}.id"),
                    format!("'{}' is empty, has a '/' or appears twice", quick.id),
                );
            }
            if !(1..=127).contains(&quick.name.chars().count()) || !names.insert(&quick.name) {
                return bad(
                    format!("{at}.name"),
                    format!(
                        "'{}' is not 1 to 127 characters or appears twice",
                        quick.name
                    ),
                );
            }
            match (&quick.queue, &quick.user) {
                (Some(queue), None) if !self.queues.iter().any(|q| &q.id == queue) => {
                    return bad(
                        format!("{at}.queue"),
                        format!("no queue with id '{queue}' in this instance"),
                    )
                }
                (None, Some(user)) if !self.users.iter().any(|u| &u.id == user) => {
                    return bad(
                        format!("{at}.user"),
                        format!("no user with id '{user}' in this instance"),
                    )
                }
                (Some(_), None) | (None, Some(_)) => {}
                _ => return bad(at, "give exactly one of `queue` and `user`".into()),
            }
            if let Some(flow) = &quick.flow {
                if self.contact_flow(flow).is_none() {
                    return bad(
                        format!("{at}.flow"),
                        format!("no contact flow with id '{flow}' in this instance"),
                    );
                }
            }
        }
        for (j, queue) in self.queues.iter().enumerate() {
            if let Some(unknown) = queue.quick_connects.iter().find(|q| !ids.contains(q)) {
                return bad(
                    format!("{at}.queues[{j}].quick_connects"),
                    format!("no quick connect with id '{unknown}' in this instance"),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use crate::model::QuickConnectTarget;

    fn with(quick_connect: &str) -> Result<Config, super::ConfigError> {
        Config::parse(&format!(
            r#"
            [[instances]]
            id = "i"
            [[instances.queues]]
            id = "q"
            name = "Q"
            [[instances.contact_flows]]
            id = "to-q"
            name = "To Q"
            queue = "q"
            [[instances.routing_profiles]]
            id = "front"
            name = "Front"
            queues = [{{ queue = "q" }}]
            [[instances.users]]
            username = "ana"
            password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$zpQ1VJ4N6e0xVRaGQw8c3BfmyrTlUcZAVKuS0WmDmpA"
            routing_profile = "front"
            [[instances.quick_connects]]
            {quick_connect}
            "#
        ))
    }

    #[test]
    fn a_quick_connect_names_a_queue_or_a_user_of_its_instance() {
        let config =
            with("id = \"billing\"\nname = \"Billing\"\nqueue = \"q\"\nflow = \"to-q\"").unwrap();
        let quick = config.instances[0].quick_connect("billing").unwrap();
        assert_eq!(quick.target().kind(), "QUEUE");
        let err = with("id = \"x\"\nname = \"X\"\nqueue = \"nope\"").unwrap_err();
        assert!(err.0.contains("quick_connects[0].queue"), "{}", err.0);
        let err = with("id = \"x\"\nname = \"X\"\nuser = \"nobody\"").unwrap_err();
        assert!(err.0.contains("quick_connects[0].user"), "{}", err.0);
        let by_username = with("id = \"ana\"\nname = \"Ana\"\nuser = \"ana\"").unwrap();
        let ana = &by_username.instances[0].users[0];
        assert_eq!(
            by_username.instances[0]
                .quick_connect("ana")
                .unwrap()
                .target(),
            QuickConnectTarget::User {
                user_id: ana.id.clone(),
                flow_id: None
            }
        );
        assert!(err.0.contains("quick_connects[0].user"), "{}", err.0);
        let err = with("id = \"x\"\nname = \"X\"").unwrap_err();
        assert!(
            err.0.contains("exactly one of `queue` and `user`"),
            "{}",
            err.0
        );
    }

    #[test]
    fn a_queue_names_quick_connects_of_its_instance() {
        let with_queue = |names: &str| {
            Config::parse(&format!(
                r#"
                [[instances]]
                id = "i"
                [[instances.queues]]
                id = "q"
                name = "Q"
                quick_connects = [{names}]
                [[instances.quick_connects]]
                id = "back"
                name = "Back to Q"
                queue = "q"
                "#
            ))
        };
        let config = with_queue("\"back\"").unwrap();
        assert_eq!(config.instances[0].queues[0].quick_connects, ["back"]);
        let err = with_queue("\"gone\"").unwrap_err();
        assert!(err.0.contains("queues[0].quick_connects"), "{}", err.0);
    }

    #[test]
    fn a_quick_connect_flow_is_one_of_its_instance() {
        let err = with("id = \"x\"\nname = \"X\"\nqueue = \"q\"\nflow = \"missing\"").unwrap_err();
        assert!(err.0.contains("quick_connects[0].flow"), "{}", err.0);
    }
}
