//! The bots a flow hands the chat to (ConnectParticipantWithLexBot). An `arn:aws:lex:...` alias
//! ARN is an Amazon Lex V2 bot, asked through the AWS SDK's RecognizeText (`[lex]` in the
//! configuration may name another endpoint, keys and the locale). An
//! `arn:switchboard:bot:REGION:ACCOUNT:NAME` alias ARN is an HTTP bot of the configuration
//! (`[[bots]]`): each customer message is POSTed to it, signed as webhooks are, and it answers
//! with one turn in the shape of Lex V2's RecognizeText (`messages`, `sessionState`), so that a
//! bot written against Lex's contract can be served without AWS. The conversation goes on until
//! the bot's `sessionState.dialogAction.type` is `Close`; then the flow takes the condition
//! matching the intent's name. The contract is in docs/flows.md.
//!
//! The request: `{"sessionId": CONTACT_ID, "text": ..., "sessionState": {"sessionAttributes":
//! {...}}, "contactId": ..., "attributes": {...}}`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::engine::BotTurn;
use super::outbound::{aws_call, http_client, post_signed, CallError, Regional};
use crate::config::{Config, Function};

/// Why a bot took no turn (the flow takes its error branch).
pub type BotError = CallError;

/// One customer message for a bot.
#[derive(Debug, Clone)]
pub struct BotRequest<'a> {
    /// The bot's alias ARN.
    pub bot: &'a str,
    /// The conversation's id: the chat's.
    pub session_id: &'a str,
    pub text: &'a str,
    pub session_attributes: &'a BTreeMap<String, String>,
    pub attributes: &'a BTreeMap<String, String>,
}

pub struct Bots {
    client: reqwest::Client,
    bots: Vec<Function>,
    lex: Regional<aws_sdk_lexruntimev2::Client>,
    /// The Lex locale.
    locale: String,
}

/// Amazon Connect's default Lex locale.
const DEFAULT_LOCALE: &str = "en_US";

impl Bots {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            client: http_client()?,
            bots: config.bots.clone(),
            lex: Regional::new(config.lex.clone()),
            locale: config
                .lex
                .locale_id
                .clone()
                .unwrap_or_else(|| DEFAULT_LOCALE.into()),
        })
    }

    /// One turn of the bot, waiting at most `limit`.
    pub async fn ask(&self, request: BotRequest<'_>, limit: Duration) -> Result<BotTurn, BotError> {
        if request.bot.starts_with("arn:aws:lex:") {
            return self.ask_lex(request, limit).await;
        }
        let bot = self.bot(request.bot)?;
        let body = json!({
            "sessionId": request.session_id,
            "text": request.text,
            "sessionState": {"sessionAttributes": request.session_attributes},
            "contactId": request.session_id,
            "attributes": request.attributes,
        });
        let answer =
            post_signed(&self.client, &bot.url, &bot.secret, body.to_string(), limit).await?;
        read_turn(&answer)
    }

    /// One turn of an Amazon Lex V2 bot (RecognizeText), the chat's id as the session's.
    async fn ask_lex(&self, request: BotRequest<'_>, limit: Duration) -> Result<BotTurn, BotError> {
        let not_found = || BotError::NotFound(request.bot.to_string());
        // arn:aws:lex:REGION:ACCOUNT:bot-alias/BOT_ID/ALIAS_ID
        let parts: Vec<&str> = request.bot.splitn(6, ':').collect();
        let (region, resource) = match parts.as_slice() {
            [_, _, _, region, _, resource] if !region.is_empty() => (*region, *resource),
            _ => return Err(not_found()),
        };
        let Some(("bot-alias", ids)) = resource.split_once('/') else {
            return Err(not_found());
        };
        let (bot_id, alias_id) = ids.split_once('/').ok_or_else(not_found)?;
        let client = self
            .lex
            .client(region, limit, aws_sdk_lexruntimev2::Client::new)
            .await;
        let state = aws_sdk_lexruntimev2::types::SessionState::builder()
            .set_session_attributes(Some(
                request
                    .session_attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ))
            .build();
        let call = client
            .recognize_text()
            .bot_id(bot_id)
            .bot_alias_id(alias_id)
            .locale_id(&self.locale)
            .session_id(request.session_id)
            .text(request.text)
            .session_state(state)
            .send();
        let output = aws_call(limit, call).await?;
        Ok(lex_turn(&output))
    }

    fn bot(&self, arn: &str) -> Result<&Function, BotError> {
        let name = arn
            .strip_prefix("arn:switchboard:bot:")
            .and_then(|rest| rest.rsplit(':').next())
            .ok_or_else(|| BotError::NotFound(arn.to_string()))?;
        self.bots
            .iter()
            .find(|b| b.name == name)
            .ok_or_else(|| BotError::NotFound(arn.to_string()))
    }
}

/// A turn from Lex V2's RecognizeText answer, as the SDK reads it.
fn lex_turn(
    output: &aws_sdk_lexruntimev2::operation::recognize_text::RecognizeTextOutput,
) -> BotTurn {
    use aws_sdk_lexruntimev2::types::DialogActionType;
    let messages = output
        .messages()
        .iter()
        .filter_map(|m| {
            m.content()
                .map(str::to_string)
                .or_else(|| m.image_response_card().map(|card| card.title().to_string()))
        })
        .collect();
    let state = output.session_state();
    let intent = state.and_then(|s| s.intent());
    let slots = intent
        .and_then(|i| i.slots())
        .map(|slots| {
            slots
                .iter()
                .filter_map(|(name, slot)| {
                    let value = slot.value()?;
                    let text = value.interpreted_value();
                    Some((name.clone(), text.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    BotTurn {
        messages,
        intent: intent.map(|i| i.name().to_string()),
        slots,
        session_attributes: state
            .and_then(|s| s.session_attributes())
            .map(|attributes| {
                attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        done: state
            .and_then(|s| s.dialog_action())
            .is_some_and(|a| a.r#type() == &DialogActionType::Close),
    }
}

/// A turn from Lex V2's RecognizeText shape: what the bot says, its intent and slots, its
/// session attributes, and whether it closed the conversation.
pub fn read_turn(answer: &Value) -> Result<BotTurn, BotError> {
    if !answer.is_object() {
        return Err(BotError::BadAnswer(answer.to_string()));
    }
    let state = &answer["sessionState"];
    let messages = answer["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| {
                    m["content"]
                        .as_str()
                        .or_else(|| m["imageResponseCard"]["title"].as_str())
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    let text_map = |value: &Value| -> BTreeMap<String, String> {
        value
            .as_object()
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let slots = state["intent"]["slots"]
        .as_object()
        .map(|slots| {
            slots
                .iter()
                .filter_map(|(name, slot)| {
                    let value = &slot["value"];
                    let text = value["interpretedValue"]
                        .as_str()
                        .or_else(|| value["originalValue"].as_str())?;
                    Some((name.clone(), text.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(BotTurn {
        messages,
        intent: state["intent"]["name"].as_str().map(str::to_string),
        slots,
        session_attributes: text_map(&state["sessionAttributes"]),
        done: state["dialogAction"]["type"] == "Close",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_is_read_from_the_lex_shape() {
        let answer = json!({
            "messages": [{"contentType": "PlainText", "content": "Which size?"},
                         {"contentType": "ImageResponseCard", "imageResponseCard": {"title": "Sizes"}}],
            "sessionState": {
                "dialogAction": {"type": "ElicitSlot", "slotToElicit": "size"},
                "intent": {"name": "OrderPizza", "state": "InProgress",
                           "slots": {"kind": {"value": {"originalValue": "margherita", "interpretedValue": "Margherita"}},
                                     "size": null}},
                "sessionAttributes": {"tries": "1"}
            }
        });
        let turn = read_turn(&answer).unwrap();
        assert_eq!(turn.messages, vec!["Which size?", "Sizes"]);
        assert_eq!(turn.intent.as_deref(), Some("OrderPizza"));
        assert_eq!(turn.slots["kind"], "Margherita");
        assert!(!turn.slots.contains_key("size"));
        assert_eq!(turn.session_attributes["tries"], "1");
        assert!(!turn.done);
    }

    #[test]
    fn a_closed_dialog_ends_the_conversation() {
        let answer = json!({"sessionState": {"dialogAction": {"type": "Close"},
                                             "intent": {"name": "OrderPizza", "state": "Fulfilled"}}});
        assert!(read_turn(&answer).unwrap().done);
        assert!(read_turn(&json!([1])).is_err());
    }
}
