//! Which model operation a request names, from its method and path: the generated
//! [`MODEL_ROUTES`] table (every operation of the `connect` and `connectparticipant` models) is
//! what lets an unimplemented operation be answered as AWS would name it rather than as an
//! unknown path.

pub use crate::model_routes::MODEL_ROUTES;

/// The model operation a method and path belong to, as `(service, operation)`, matching
/// `{Label}` to one non-empty segment and `{Label+}` to the rest.
pub fn model_operation(method: &str, path: &str) -> Option<(&'static str, &'static str)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    MODEL_ROUTES
        .iter()
        .find(|(_, _, m, template)| *m == method && matches(template, &segments))
        .map(|(service, op, _, _)| (*service, *op))
}

/// Whether a URI template (`/contacts/{InstanceId}/{ContactId}`) matches the path's segments.
fn matches(template: &str, segments: &[&str]) -> bool {
    let mut i = 0;
    for p in template.trim_start_matches('/').split('/') {
        if p.ends_with("+}") {
            return i < segments.len();
        }
        match segments.get(i) {
            Some(s) if p.starts_with('{') => {
                if s.is_empty() {
                    return false;
                }
            }
            Some(s) if *s == p => {}
            _ => return false,
        }
        i += 1;
    }
    i == segments.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_model_operations_by_route() {
        assert_eq!(
            model_operation("PUT", "/contact/chat"),
            Some(("Connect", "StartChatContact"))
        );
        assert_eq!(
            model_operation("GET", "/contacts/i-1/c-1"),
            Some(("Connect", "DescribeContact"))
        );
        assert_eq!(
            model_operation("POST", "/participant/attachment"),
            Some(("ConnectParticipant", "GetAttachment"))
        );
        assert_eq!(model_operation("GET", "/no/such/thing"), None);
        assert_eq!(model_operation("DELETE", "/contact/chat"), None);
    }
}
