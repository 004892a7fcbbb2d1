//! Decoding and validating rest-json request bodies.
//!
//! Bodies are parsed into a JSON object and read member by member through [`Input`], which checks
//! type, presence, length, range and enum constraints as the AWS model states them and collects
//! every violation into one error naming the members, the way AWS services report them
//! ("2 validation errors detected: ..."). `null` is treated as absent and unknown members are
//! ignored, so newer SDKs that send new members keep working.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::ApiError;

/// Builds the service's validation error from a message (ValidationException for the participant
/// service, InvalidParameterException / InvalidRequestException for connect).
pub type ErrorFn = fn(String) -> ApiError;

/// A JSON object being validated.
pub struct Input {
    object: Map<String, Value>,
    path: String,
    errors: Vec<String>,
    error: ErrorFn,
}

impl Input {
    /// Parses a request body; an empty body reads as `{}` (botocore sends none when no member is set).
    pub fn parse(body: &[u8], error: ErrorFn) -> Result<Self, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::from_object(Map::new(), String::new(), error));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => Ok(Self::from_object(object, String::new(), error)),
            Ok(_) => Err(error("The request body must be a JSON object".into())),
            Err(e) => Err(error(format!("The request body is not valid JSON: {e}"))),
        }
    }

    fn from_object(object: Map<String, Value>, path: String, error: ErrorFn) -> Self {
        Self {
            object,
            path,
            errors: Vec::new(),
            error,
        }
    }

    fn member_path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn fail(&mut self, name: &str, constraint: impl std::fmt::Display) {
        let path = self.member_path(name);
        self.errors.push(format!(
            "Value at '{path}' failed to satisfy constraint: {constraint}"
        ));
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        match self.object.remove(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// Records a violation that is not about one member's shape (e.g. two members that exclude each other).
    pub fn reject(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    pub fn string(&mut self, name: &str, min: usize, max: usize) -> Option<String> {
        let value = self.take(name)?;
        let Value::String(s) = value else {
            self.fail(name, "Member must be a string");
            return None;
        };
        self.check_length(name, &s, min, max).then_some(s)
    }

    pub fn required_string(&mut self, name: &str, min: usize, max: usize) -> Option<String> {
        let present = self.object.get(name).is_some_and(|v| !v.is_null());
        if !present {
            self.fail(name, "Member must not be null");
            return None;
        }
        self.string(name, min, max)
    }

    fn check_length(&mut self, name: &str, s: &str, min: usize, max: usize) -> bool {
        let len = s.chars().count();
        if len < min {
            self.fail(
                name,
                format!("Member must have length greater than or equal to {min}"),
            );
            false
        } else if len > max {
            self.fail(
                name,
                format!("Member must have length less than or equal to {max}"),
            );
            false
        } else {
            true
        }
    }

    pub fn enumeration(&mut self, name: &str, allowed: &[&str]) -> Option<String> {
        let value = self.string(name, 0, usize::MAX)?;
        if allowed.contains(&value.as_str()) {
            Some(value)
        } else {
            self.fail(
                name,
                format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            );
            None
        }
    }

    pub fn integer(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.take(name)?;
        let Some(n) = value.as_i64() else {
            self.fail(name, "Member must be an integer");
            return None;
        };
        if n < min {
            self.fail(
                name,
                format!("Member must have value greater than or equal to {min}"),
            );
            None
        } else if n > max {
            self.fail(
                name,
                format!("Member must have value less than or equal to {max}"),
            );
            None
        } else {
            Some(n)
        }
    }

    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        let value = self.take(name)?;
        match value {
            Value::Bool(b) => Some(b),
            _ => {
                self.fail(name, "Member must be a boolean");
                None
            }
        }
    }

    /// A list of strings with item-count and item-length limits.
    pub fn string_list(
        &mut self,
        name: &str,
        items: (usize, usize),
        length: (usize, usize),
    ) -> Option<Vec<String>> {
        let value = self.take(name)?;
        let Value::Array(values) = value else {
            self.fail(name, "Member must be a list");
            return None;
        };
        if values.len() < items.0 {
            self.fail(
                name,
                format!(
                    "Member must have length greater than or equal to {}",
                    items.0
                ),
            );
            return None;
        }
        if values.len() > items.1 {
            self.fail(
                name,
                format!("Member must have length less than or equal to {}", items.1),
            );
            return None;
        }
        let mut out = Vec::with_capacity(values.len());
        for (i, v) in values.into_iter().enumerate() {
            let item_name = format!("{name}.{}", i + 1);
            match v {
                Value::String(s) if self.check_length(&item_name, &s, length.0, length.1) => {
                    out.push(s)
                }
                Value::String(_) => return None,
                _ => {
                    self.fail(&item_name, "Member must be a string");
                    return None;
                }
            }
        }
        Some(out)
    }

    /// A list of enum values.
    pub fn enum_list(
        &mut self,
        name: &str,
        items: (usize, usize),
        allowed: &[&str],
    ) -> Option<Vec<String>> {
        let values = self.string_list(name, items, (0, usize::MAX))?;
        for (i, v) in values.iter().enumerate() {
            if !allowed.contains(&v.as_str()) {
                self.fail(
                    &format!("{name}.{}", i + 1),
                    format!(
                        "Member must satisfy enum value set: [{}]",
                        allowed.join(", ")
                    ),
                );
                return None;
            }
        }
        Some(values)
    }

    /// A map of string to string with key and value length limits.
    pub fn string_map(
        &mut self,
        name: &str,
        key: (usize, usize),
        value: (usize, usize),
    ) -> Option<BTreeMap<String, String>> {
        let raw = self.take(name)?;
        let Value::Object(entries) = raw else {
            self.fail(name, "Member must be a map");
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, v) in entries {
            let entry = format!("{name}.{k}");
            ok &= self.check_length(&format!("{name}.key"), &k, key.0, key.1);
            match v {
                Value::String(s) => {
                    ok &= self.check_length(&entry, &s, value.0, value.1);
                    out.insert(k, s);
                }
                _ => {
                    self.fail(&entry, "Member must be a string");
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A raw JSON member kept as it is (for shapes the server stores but does not interpret).
    pub fn raw(&mut self, name: &str) -> Option<Value> {
        self.take(name)
    }

    /// A nested structure, validated by `read`; its violations are reported with the full path.
    pub fn object<R>(&mut self, name: &str, read: impl FnOnce(&mut Input) -> R) -> Option<R> {
        let value = self.take(name)?;
        let Value::Object(object) = value else {
            self.fail(name, "Member must be a structure");
            return None;
        };
        let mut child = Input::from_object(object, self.member_path(name), self.error);
        let result = read(&mut child);
        let failed = !child.errors.is_empty();
        self.errors.append(&mut child.errors);
        (!failed).then_some(result)
    }

    pub fn required_object<R>(
        &mut self,
        name: &str,
        read: impl FnOnce(&mut Input) -> R,
    ) -> Option<R> {
        let present = self.object.get(name).is_some_and(|v| !v.is_null());
        if !present {
            self.fail(name, "Member must not be null");
            return None;
        }
        self.object(name, read)
    }

    /// A list of structures, each validated by `read`, with item-count limits.
    pub fn object_list<R>(
        &mut self,
        name: &str,
        items: (usize, usize),
        mut read: impl FnMut(&mut Input) -> R,
    ) -> Option<Vec<R>> {
        let value = self.take(name)?;
        let Value::Array(values) = value else {
            self.fail(name, "Member must be a list");
            return None;
        };
        if values.len() < items.0 || values.len() > items.1 {
            self.fail(
                name,
                format!(
                    "Member must have length between {} and {}",
                    items.0, items.1
                ),
            );
            return None;
        }
        let mut out = Vec::with_capacity(values.len());
        let mut failed = false;
        for (i, v) in values.into_iter().enumerate() {
            let item_name = format!("{name}.{}", i + 1);
            let Value::Object(object) = v else {
                self.fail(&item_name, "Member must be a structure");
                failed = true;
                continue;
            };
            let mut child = Input::from_object(object, self.member_path(&item_name), self.error);
            out.push(read(&mut child));
            failed |= !child.errors.is_empty();
            self.errors.append(&mut child.errors);
        }
        (!failed).then_some(out)
    }

    /// Whether a member is present and non-null (without consuming it).
    pub fn has(&self, name: &str) -> bool {
        self.object.get(name).is_some_and(|v| !v.is_null())
    }

    /// Ends validation: every violation found becomes one error.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.errors.len() {
            0 => Ok(()),
            1 => Err((self.error)(format!(
                "1 validation error detected: {}",
                self.errors[0]
            ))),
            n => Err((self.error)(format!(
                "{n} validation errors detected: {}",
                self.errors.join("; ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: &str) -> Input {
        Input::parse(json.as_bytes(), ApiError::validation).unwrap()
    }

    #[test]
    fn collects_every_violation() {
        let mut i = input(r#"{"A": "", "B": 7, "C": "x"}"#);
        assert_eq!(i.string("A", 1, 5), None);
        assert_eq!(i.string("B", 1, 5), None);
        assert_eq!(i.required_string("D", 1, 5), None);
        assert_eq!(i.string("C", 1, 5).as_deref(), Some("x"));
        let err = i.finish().unwrap_err();
        assert_eq!(err.code, "ValidationException");
        assert!(
            err.message.starts_with("3 validation errors detected"),
            "{}",
            err.message
        );
        assert!(err.message.contains("'D'"));
    }

    #[test]
    fn null_is_absent_and_empty_body_is_empty_object() {
        let mut i = input(r#"{"A": null}"#);
        assert_eq!(i.string("A", 1, 5), None);
        assert!(i.finish().is_ok());
        assert!(Input::parse(b"", ApiError::validation).is_ok());
        assert!(Input::parse(b"[1]", ApiError::validation).is_err());
        assert!(Input::parse(b"{", ApiError::validation).is_err());
    }

    #[test]
    fn nested_paths_are_named() {
        let mut i = input(r#"{"P": {"DisplayName": ""}}"#);
        i.object("P", |p| p.required_string("DisplayName", 1, 256));
        let err = i.finish().unwrap_err();
        assert!(err.message.contains("'P.DisplayName'"), "{}", err.message);
    }
}
