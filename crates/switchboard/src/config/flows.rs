//! Contact flows in the configuration: each is either a queue (every chat goes to it) or content
//! in the Amazon Connect flow language, given inline or as a file. Content is read and validated
//! while the configuration loads, as publishing would: a flow with problems stops the server at
//! start with every problem named, rather than a chat finding it out.

use std::path::Path;
use std::sync::Arc;

use super::{ConfigError, ContactFlow, Instance};
use crate::flows::language::queue_flow;
use crate::flows::Flow;

impl Instance {
    /// Reads each flow's content (from its file, if it names one) and validates it.
    pub(super) fn load_flows(&mut self, at: &str, base: &Path) -> Result<(), ConfigError> {
        for (j, flow) in self.contact_flows.iter_mut().enumerate() {
            let key = format!("{at}.contact_flows[{j}]");
            let given = [
                flow.queue.is_some(),
                flow.content.is_some(),
                flow.file.is_some(),
            ];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(ConfigError(format!(
                    "invalid value for `{key}`: give exactly one of `queue`, `content` and `file`"
                )));
            }
            if let Some(file) = &flow.file {
                let path = base.join(file);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    ConfigError(format!(
                        "invalid value for `{key}.file`: cannot read {}: {e}",
                        path.display()
                    ))
                })?;
                flow.content = Some(text);
            }
            if let Some(content) = &flow.content {
                let read = crate::flows::validate(content).map_err(|problems| {
                    let member = if flow.file.is_some() {
                        "file"
                    } else {
                        "content"
                    };
                    ConfigError(format!(
                        "invalid value for `{key}.{member}`: the flow has problems: {}",
                        problems.join("; ")
                    ))
                })?;
                flow.flow = Some(Arc::new(read));
            }
        }
        Ok(())
    }
}

impl ContactFlow {
    /// The flow as flow-language data: its content, or for a queue flow the flow that transfers
    /// to that queue (`queue_arn` makes the queue's ARN from its id).
    pub fn language(&self, queue_arn: impl Fn(&str) -> String) -> Arc<Flow> {
        match (&self.flow, &self.queue) {
            (Some(flow), _) => flow.clone(),
            (None, Some(queue)) => Arc::new(queue_flow(&queue_arn(queue))),
            (None, None) => unreachable!("validation gives every flow a queue or content"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn with_flow(flow: &str) -> Result<Config, super::ConfigError> {
        Config::parse(&format!(
            r#"
            [[instances]]
            id = "i"
            [[instances.queues]]
            id = "q"
            name = "Q"
            [[instances.contact_flows]]
            id = "f"
            name = "F"
            {flow}
            "#
        ))
    }

    #[test]
    fn a_flow_is_a_queue_or_content_never_both_nor_neither() {
        assert!(with_flow(r#"queue = "q""#).is_ok());
        let both = with_flow("queue = \"q\"\ncontent = \"{}\"").unwrap_err();
        assert!(both.0.contains("exactly one of"), "{}", both.0);
        let neither = with_flow("").unwrap_err();
        assert!(neither.0.contains("contact_flows[0]"), "{}", neither.0);
    }

    #[test]
    fn content_with_problems_stops_the_load_naming_each_problem() {
        let content = r#"{"Version": "2019-10-30", "StartAction": "a", "Actions": [
            {"Identifier": "a", "Type": "PlayPrompt", "Parameters": {}}]}"#;
        let err = with_flow(&format!("content = '''{content}'''")).unwrap_err();
        assert!(err.0.contains("contact_flows[0].content"), "{}", err.0);
        assert!(err.0.contains("PlayPrompt"), "{}", err.0);
    }

    #[test]
    fn content_is_read_from_a_file_beside_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("greet.json"),
            r#"{"Version": "2019-10-30", "StartAction": "bye", "Actions": [
                {"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}}]}"#,
        )
        .unwrap();
        let path = dir.path().join("switchboard.toml");
        std::fs::write(
            &path,
            r#"
            [[instances]]
            id = "i"
            [[instances.contact_flows]]
            id = "f"
            name = "F"
            file = "greet.json"
            "#,
        )
        .unwrap();
        let config = Config::from_file(&path).unwrap();
        let flow = config.instances[0].contact_flow("f").unwrap();
        assert_eq!(flow.language(|q| q.to_string()).start_action, "bye");
        std::fs::write(&path, "[[instances]]\nid = \"i\"\n[[instances.contact_flows]]\nid = \"f\"\nname = \"F\"\nfile = \"missing.json\"\n").unwrap();
        let err = Config::from_file(&path).unwrap_err();
        assert!(err.0.contains("cannot read"), "{}", err.0);
    }
}
