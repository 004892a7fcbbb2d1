//! The ready-to-use configuration `switchboard serve` runs when given no `--config`: one
//! instance, one contact flow, one queue, and an access key pair generated once and kept in the
//! data directory so that it stays the same across restarts.

use std::path::Path;

use rand::distributions::{Alphanumeric, DistString};

use crate::config::{AccessKey, Config, ContactFlow, Instance, Queue};

pub const INSTANCE_ID: &str = "00000000-0000-4000-8000-000000000001";
pub const CONTACT_FLOW_ID: &str = "00000000-0000-4000-8000-0000000000f1";
pub const QUEUE_ID: &str = "00000000-0000-4000-8000-0000000000a1";

pub fn config(listen: Option<String>) -> anyhow::Result<Config> {
    let mut config = Config::parse("")?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    let data_dir = Path::new(
        config
            .sqlite_path()
            .unwrap_or("switchboard-data/switchboard.db"),
    )
    .parent()
    .unwrap_or(Path::new("."))
    .to_path_buf();
    config.access_keys = vec![access_key(&data_dir)?];
    config.instances = vec![Instance {
        id: INSTANCE_ID.into(),
        contact_flows: vec![ContactFlow {
            id: CONTACT_FLOW_ID.into(),
            name: "Demo chat flow".into(),
            queue: QUEUE_ID.into(),
        }],
        queues: vec![Queue {
            id: QUEUE_ID.into(),
            name: "Demo queue".into(),
        }],
    }];
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

/// What a newcomer needs to call the demo from an SDK.
pub fn describe(config: &Config, url: &str) -> String {
    let key = &config.access_keys[0];
    format!(
        "Switchboard demo configuration (start with --config FILE for your own):\n  \
         endpoint          {url}\n  \
         region            {}\n  \
         instance id       {INSTANCE_ID}\n  \
         contact flow id   {CONTACT_FLOW_ID}\n  \
         queue id          {QUEUE_ID}\n  \
         access key id     {}\n  \
         secret access key {}\n",
        config.region, key.id, key.secret
    )
}
