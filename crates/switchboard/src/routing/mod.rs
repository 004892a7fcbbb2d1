//! Routing chats to agents: [`engine`] makes the decisions (pure, time passed in, so tests drive
//! it with chosen instants instead of sleeping).

pub mod engine;

#[cfg(test)]
mod tests;
