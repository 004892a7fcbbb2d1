//! Interactive messages a flow sends: a `Text` that is an interactive message template (JSON
//! `{"templateType": ..., "version": "1.0", "data": {...}}`) goes to the chat as
//! `application/vnd.amazonaws.connect.message.interactive`, which the hosted widget and ChatJS
//! render as pickers and buttons; the customer's pick comes back as text (the element's title),
//! which GetParticipantInput's conditions compare.
//!
//! The rules, as Amazon Connect checks a template before sending it: a known template type,
//! version 1.0, a `data.content` object, and no more elements than the template shows
//! (ListPicker 6, Panel 10, Carousel 5).

use serde_json::Value;

/// The content type of an interactive message.
pub const CONTENT_TYPE: &str = "application/vnd.amazonaws.connect.message.interactive";

/// Template types, and how many elements each may carry (`None`: no limit checked here).
const TEMPLATES: [(&str, Option<usize>); 6] = [
    ("ListPicker", Some(6)),
    ("QuickReply", None),
    ("TimePicker", None),
    ("Panel", Some(10)),
    ("Carousel", Some(5)),
    ("ViewResource", None),
];

/// Whether `text` is meant as a template: a JSON object with a `templateType`.
pub fn is_template(text: &str) -> bool {
    let text = text.trim_start();
    text.starts_with('{')
        && serde_json::from_str::<Value>(text).is_ok_and(|v| v.get("templateType").is_some())
}

/// What is wrong with a template, if anything.
pub fn problems(text: &str) -> Vec<String> {
    let Ok(template) = serde_json::from_str::<Value>(text) else {
        return vec!["the interactive message is not JSON".into()];
    };
    let kind = template["templateType"].as_str().unwrap_or_default();
    let Some((_, limit)) = TEMPLATES.iter().find(|(name, _)| *name == kind) else {
        let known: Vec<&str> = TEMPLATES.iter().map(|(name, _)| *name).collect();
        return vec![format!(
            "templateType '{kind}' is not one of {}",
            known.join(", ")
        )];
    };
    let mut out = Vec::new();
    if template["version"] != "1.0" {
        out.push(format!("a {kind} template has version \"1.0\""));
    }
    let content = &template["data"]["content"];
    if !content.is_object() {
        out.push(format!("a {kind} template needs data.content"));
    }
    let elements = content["elements"].as_array().map_or(0, Vec::len);
    if let Some(limit) = limit.filter(|limit| elements > *limit) {
        out.push(format!(
            "a {kind} template shows at most {limit} elements, not {elements}"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_picker(elements: usize) -> String {
        let elements: Vec<Value> = (0..elements)
            .map(|i| serde_json::json!({"title": format!("Option {i}")}))
            .collect();
        serde_json::json!({
            "templateType": "ListPicker", "version": "1.0",
            "data": {"content": {"title": "Pick one", "elements": elements}}
        })
        .to_string()
    }

    #[test]
    fn a_template_is_a_json_object_with_a_template_type() {
        assert!(is_template(&list_picker(2)));
        assert!(!is_template("Hello {there}"));
        assert!(!is_template("{\"not\": \"a template\"}"));
    }

    #[test]
    fn a_list_picker_shows_at_most_six_elements() {
        assert!(problems(&list_picker(6)).is_empty());
        let too_many = problems(&list_picker(7));
        assert_eq!(too_many.len(), 1, "{too_many:?}");
        assert!(too_many[0].contains("at most 6"));
    }

    #[test]
    fn an_unknown_template_type_is_named() {
        let found = problems(r#"{"templateType": "Spinner", "version": "1.0", "data": {}}"#);
        assert!(found[0].contains("Spinner"), "{found:?}");
    }
}
