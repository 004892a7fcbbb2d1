//! The ready-to-use configuration `switchboard serve` runs when given no `--config`: one
//! instance, one contact flow, one queue, one agent who serves it, and an access key pair and
//! agent password generated once and kept in the data directory so that they stay the same
//! across restarts.

use std::path::{Path, PathBuf};

use rand::distributions::{Alphanumeric, DistString};

use crate::config::{
    derived_id, AccessKey, Config, ContactFlow, Instance, ProfileQueue, Queue, RoutingProfile,
    User, Widget,
};

pub const INSTANCE_ID: &str = "00000000-0000-4000-8000-000000000001";
pub const CONTACT_FLOW_ID: &str = "00000000-0000-4000-8000-0000000000f1";
pub const QUEUE_ID: &str = "00000000-0000-4000-8000-0000000000a1";
pub const ROUTING_PROFILE_ID: &str = "00000000-0000-4000-8000-0000000000b1";
pub const AGENT_USERNAME: &str = "agent";
pub const WIDGET_ID: &str = "demo";

pub fn config(listen: Option<String>) -> anyhow::Result<Config> {
    let mut config = Config::parse("")?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    config.access_keys = vec![access_key(&data_dir(&config))?];
    let agent_password = agent_password(&config)?;
    config.instances = vec![Instance {
        id: INSTANCE_ID.into(),
        contact_flows: vec![ContactFlow {
            id: CONTACT_FLOW_ID.into(),
            name: "Demo chat flow".into(),
            queue: Some(QUEUE_ID.into()),
            content: None,
            file: None,
            after_agent_leaves: Default::default(),
            flow: None,
        }],
        queues: vec![Queue {
            id: QUEUE_ID.into(),
            name: "Demo queue".into(),
            max_contacts: None,
            hours: None,
            quick_connects: Vec::new(),
        }],
        routing_profiles: vec![RoutingProfile {
            id: ROUTING_PROFILE_ID.into(),
            name: "Demo agents".into(),
            chat_concurrency: 3,
            auto_accept: false,
            queues: vec![ProfileQueue {
                queue: QUEUE_ID.into(),
                priority: 1,
                delay_seconds: 0,
            }],
        }],
        users: vec![User {
            id: derived_id(INSTANCE_ID, "user", AGENT_USERNAME),
            username: AGENT_USERNAME.into(),
            display_name: "Demo Agent".into(),
            password_hash: crate::agent::password::hash(&agent_password),
            routing_profile: ROUTING_PROFILE_ID.into(),
            supervisor: true,
            takes_chats: true,
        }],
        agent_statuses: Vec::new(),
        hours_of_operation: Vec::new(),
        quick_connects: Vec::new(),
        widgets: vec![Widget {
            id: WIDGET_ID.into(),
            contact_flow: CONTACT_FLOW_ID.into(),
            allowed_origins: vec!["*".into()],
            display_name_max: 64,
            default_display_name: None,
            identity_secret: None,
            chats_per_minute: 10,
            streaming_endpoint: None,
        }],
    }];
    config.demo_page = true;
    // A Streams desktop tried out on this machine, on any port.
    config.ccp.approved_origins = vec!["http://localhost:*".into(), "http://127.0.0.1:*".into()];
    config.validate()?;
    Ok(config)
}

/// The demo key pair: read from `demo-access-key.toml` in the data directory, or made and saved.
fn access_key(data_dir: &Path) -> anyhow::Result<AccessKey> {
    #[derive(serde::Deserialize, serde::Serialize)]
    struct Saved {
        id: String,
        secret: String,
    }
    let file = data_dir.join("demo-access-key.toml");
    if let Ok(text) = std::fs::read_to_string(&file) {
        if let Ok(saved) = toml::from_str::<Saved>(&text) {
            return Ok(AccessKey {
                id: saved.id,
                secret: saved.secret,
            });
        }
    }
    let mut rng = rand::thread_rng();
    let saved = Saved {
        id: format!(
            "AKSB{}",
            Alphanumeric.sample_string(&mut rng, 16).to_uppercase()
        ),
        secret: Alphanumeric.sample_string(&mut rng, 40),
    };
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&file, toml::to_string(&saved)?)?;
    Ok(AccessKey {
        id: saved.id,
        secret: saved.secret,
    })
}

/// A random secret kept in `file`: read back when it is there, made and saved when it is not.
fn saved_secret(file: &Path, length: usize) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(file) {
        let secret = text.trim();
        if !secret.is_empty() {
            return Ok(secret.to_string());
        }
    }
    let secret = Alphanumeric.sample_string(&mut rand::thread_rng(), length);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(file, format!("{secret}\n"))?;
    Ok(secret)
}

/// The folder of the database file, where the demo keeps its generated secrets.
fn data_dir(config: &Config) -> PathBuf {
    Path::new(
        config
            .sqlite_path()
            .unwrap_or("switchboard-data/switchboard.db"),
    )
    .parent()
    .unwrap_or(Path::new("."))
    .to_path_buf()
}

/// The demo agent's password, as kept in the data directory.
pub fn agent_password(config: &Config) -> anyhow::Result<String> {
    saved_secret(&data_dir(config).join("demo-agent-password.txt"), 20)
}

/// What a newcomer needs to call the demo from an SDK, and to sign in as its agent.
pub fn describe(config: &Config, url: &str) -> String {
    let key = &config.access_keys[0];
    let password = agent_password(config).unwrap_or_else(|e| format!("(unreadable: {e})"));
    format!(
        "Switchboard demo configuration (start with --config FILE for your own):\n  \
         endpoint          {url}\n  \
         region            {}\n  \
         instance id       {INSTANCE_ID}\n  \
         contact flow id   {CONTACT_FLOW_ID}\n  \
         queue id          {QUEUE_ID}\n  \
         access key id     {}\n  \
         secret access key {}\n  \
         agent username    {AGENT_USERNAME}\n  \
         agent password    {password}\n  \
         demo shop page    {url}/  (the chat widget; agents answer at {url}/agent)\n",
        config.region, key.id, key.secret
    )
}
