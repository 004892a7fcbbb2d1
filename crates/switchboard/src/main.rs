//! The `switchboard` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard::config::Config;
use switchboard::server::{shutdown_signal, Server};

/// mimalloc keeps per-socket memory and allocation cost down under many small, long-lived
/// allocations (sockets, sessions) interleaved with short-lived ones (requests).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Contact-center chat server speaking the Amazon Connect chat protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (with no --config: the demo configuration on 127.0.0.1).
    Serve {
        /// TOML configuration file (see docs/configuration.md).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on, overriding the configuration (port 0 picks a free port).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Validate a configuration file and exit.
    CheckConfig { file: PathBuf },
    /// Create or upgrade the store's schema to this version, then exit (`serve` does this too,
    /// on start).
    Migrate {
        /// TOML configuration file naming the store.
        #[arg(long)]
        config: PathBuf,
    },
    /// Agent users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Contact flows in the Amazon Connect flow language.
    Flow {
        #[command(subcommand)]
        command: FlowCommand,
    },
}

#[derive(Subcommand)]
enum FlowCommand {
    /// Check a flow's content (the JSON `CreateContactFlow` takes) as publishing it would, and
    /// print every problem; exits 1 if there is any.
    Check { file: PathBuf },
    /// Print the flow log of a chat: each action its flow ran, and how it came out. Reads the
    /// store of the configuration (a server may be running on it).
    Trace {
        /// TOML configuration file naming the store.
        #[arg(long)]
        config: PathBuf,
        /// The chat's contact id (any contact of the chat).
        contact_id: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Print the argon2 hash of a password, for a user's `password_hash` in the configuration.
    /// Reads the password from standard input (without echo at a terminal).
    Hash,
}

/// `switchboard flow check FILE`: the verdict CreateContactFlow (PUBLISHED) would give.
fn check_flow(file: &std::path::Path) -> ExitCode {
    let content = match std::fs::read_to_string(file) {
        Ok(content) => content,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    match switchboard::flows::validate(&content) {
        Ok(flow) => {
            println!(
                "{}: the flow is valid ({} actions)",
                file.display(),
                flow.actions.len()
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in &problems {
                println!("{}: {problem}", file.display());
            }
            eprintln!(
                "error: {} problem{} in {}",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                file.display()
            );
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        );
    // One JSON object per line, for log collectors; the request's span (its id) comes along.
    if std::env::var("SWITCHBOARD_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.init();
    }
    match cli.command {
        Command::CheckConfig { file } => match Config::from_file(&file) {
            Ok(_) => {
                println!("{}: configuration is valid", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Migrate { config } => {
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            match runtime.block_on(migrate(config)) {
                Ok(store) => {
                    println!("{store}: schema is up to date");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Flow {
            command: FlowCommand::Check { file },
        } => check_flow(&file),
        Command::Flow {
            command: FlowCommand::Trace { config, contact_id },
        } => {
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            match runtime.block_on(trace_flow(config, &contact_id)) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::User {
            command: UserCommand::Hash,
        } => match read_password() {
            Ok(password) if !password.is_empty() => {
                println!("{}", switchboard::agent::password::hash(&password));
                ExitCode::SUCCESS
            }
            Ok(_) => {
                eprintln!("error: the password is empty");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("error: cannot read the password: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config, listen } => {
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            match runtime.block_on(serve(config, listen)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// One line from standard input: prompted for without echo at a terminal, read as is when piped.
fn read_password() -> std::io::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("Password: ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Opens the configured store, which applies any migrations it lacks, and closes it.
/// `switchboard flow trace --config FILE CONTACT_ID`: the chat's flow log, a line per action.
async fn trace_flow(config_file: PathBuf, contact_id: &str) -> anyhow::Result<ExitCode> {
    let config = Config::from_file(&config_file)?;
    let reads = switchboard::server::open_reads(&config).await?;
    let Some(contact) = reads.contact(contact_id).await? else {
        eprintln!("error: no contact {contact_id} in {}", config.storage);
        return Ok(ExitCode::FAILURE);
    };
    let log = reads.flow_log(contact.chat_id()).await?;
    if log.is_empty() {
        println!("contact {contact_id}: its flow has run no action");
    }
    for entry in log {
        println!(
            "{}  {}  {}  {}  -> {}",
            switchboard::clock::format_instant(entry.at),
            entry.flow_id,
            entry.action,
            entry.action_type,
            entry.outcome
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn migrate(config_file: PathBuf) -> anyhow::Result<String> {
    let config = Config::from_file(&config_file)?;
    let store = switchboard::server::open_store(&config).await?;
    store.close().await;
    Ok(config.storage)
}

async fn serve(config_file: Option<PathBuf>, listen: Option<String>) -> anyhow::Result<()> {
    let demo = config_file.is_none();
    let config = match config_file {
        Some(file) => {
            let mut config = Config::from_file(&file)?;
            if let Some(listen) = listen {
                config.listen = listen;
                config.validate()?;
            }
            config
        }
        None => switchboard::demo::config(listen)?,
    };
    let described = demo.then(|| config.clone());
    let server = Server::bind(config).await?;
    if let Some(config) = described {
        print!(
            "{}",
            switchboard::demo::describe(&config, &server.public_url)
        );
    }
    server.serve(shutdown_signal()).await
}
