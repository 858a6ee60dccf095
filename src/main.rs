//! The `flexsecure` command line: parses arguments and calls the library.

use clap::{Parser, Subcommand, ValueEnum};
use flexsecure::config::{Config, Overrides};
use flexsecure::store::Scope;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "flexsecure",
    version,
    about = "On-premise SMS authentication appliance"
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "FLEXSECURE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database, server key, signing keys); default ./flexsecure-data.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Log lines on standard error: human-readable text, or one JSON object per line.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "FLEXSECURE_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormatArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (default 127.0.0.1:8080).
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8443.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Check the configuration and print the effective settings.
    CheckConfig,
    /// Accounts (tenants).
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Operators of the admin UI.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// API keys.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// GSM modems.
    Modem {
        #[command(subcommand)]
        command: ModemCommand,
    },
    /// SMS.
    Sms {
        #[command(subcommand)]
        command: SmsCommand,
    },
    /// Keys that sign login assertions (JWT).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The audit log (admin changes and login decisions), newest first.
    Audit {
        /// Only this account's entries (default: every account's).
        #[arg(long)]
        account: Option<String>,
        /// An action (`policy.create`), or a prefix ending with `.` (`login.`).
        #[arg(long)]
        action: Option<String>,
        /// At most this many entries (1-500, default 100).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Back up the database, server key and signing keys into one file,
    /// while the server runs. Encrypted with the passphrase in
    /// --passphrase-file; without one the file holds the keys in clear.
    Backup {
        /// The archive to write (replaced if it exists; mode 0600).
        file: PathBuf,
        /// File holding the passphrase (never given on the command line).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Restore a backup into the data directory (the server must be stopped).
    Restore {
        /// The archive `flexsecure backup` wrote.
        file: PathBuf,
        /// File holding the passphrase of an encrypted backup.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Replace the database and keys of a data directory that has files.
        #[arg(long)]
        force: bool,
    },
    /// The database.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Load test of the login path: runs this binary as a server on a
    /// temporary data dir with an HTTP SMS sink and measures PIN logins.
    Bench {
        #[arg(long, default_value_t = 1000)]
        users: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Measured seconds.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Warm-up seconds before measuring.
        #[arg(long, default_value_t = 2)]
        warmup: u64,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// integrity_check, foreign_key_check and the schema version; exits
    /// non-zero on a problem. Works beside a running server.
    Check,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a new signing key. A running server picks it up within a few
    /// seconds and keeps the old key published until its assertions expired.
    Rotate,
    /// List the signing keys (never the keys themselves).
    List,
}

#[derive(Subcommand)]
enum ModemCommand {
    /// Open a modem, initialise it and print maker, model, IMEI, SIM state,
    /// registration, signal and operator. Stop the server first if it uses the port.
    Probe {
        #[arg(long)]
        port: PathBuf,
        #[arg(long)]
        baud: Option<u32>,
    },
}

#[derive(Subcommand)]
enum SmsCommand {
    /// The outbox: messages by status and channel, the oldest still waiting.
    Queue,
    /// Send one SMS through the configured channels and print the outcome.
    Send {
        #[arg(long)]
        to: String,
        #[arg(long)]
        text: String,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account with an auth key and a manage key (shown once).
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScopeArg {
    Auth,
    Manage,
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Create a key (shown once).
    Create {
        #[arg(long)]
        account: String,
        #[arg(long, value_enum)]
        scope: ScopeArg,
    },
    /// List an account's keys (never the keys themselves).
    List {
        #[arg(long)]
        account: String,
    },
    /// Revoke a key by its id.
    Revoke { key_id: String },
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Create an operator and print a one-time link (valid 24 h) where the
    /// operator chooses a password. Without --account: an appliance
    /// operator (every account, the channels); with it: that account only.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        account: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    flexsecure::telemetry::init_with(match cli.log_format {
        LogFormatArg::Text => flexsecure::telemetry::LogFormat::Text,
        LogFormatArg::Json => flexsecure::telemetry::LogFormat::Json,
    });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let overrides = Overrides {
        data_dir: cli.data_dir.clone(),
        listen,
    };
    let config = Config::load(cli.config.as_deref(), std::env::vars(), &overrides)?;
    let json = cli.json;
    match cli.command {
        Command::Serve { .. } => flexsecure::cli::serve(config),
        Command::CheckConfig => flexsecure::cli::check_config(&config, json),
        Command::Account {
            command: AccountCommand::Create { name },
        } => flexsecure::cli::account_create(&config, &name, json),
        Command::Operator {
            command: OperatorCommand::Create { username, account },
        } => flexsecure::cli::operator_create(&config, &username, account, json),
        Command::Apikey { command } => match command {
            ApikeyCommand::Create { account, scope } => {
                let scope = match scope {
                    ScopeArg::Auth => Scope::Auth,
                    ScopeArg::Manage => Scope::Manage,
                };
                flexsecure::cli::apikey_create(&config, &account, scope, json)
            }
            ApikeyCommand::List { account } => {
                flexsecure::cli::apikey_list(&config, &account, json)
            }
            ApikeyCommand::Revoke { key_id } => {
                flexsecure::cli::apikey_revoke(&config, &key_id, json)
            }
        },
        Command::Modem {
            command: ModemCommand::Probe { port, baud },
        } => flexsecure::cli::modem_probe(&config, &port, baud, json),
        Command::Sms {
            command: SmsCommand::Send { to, text },
        } => flexsecure::cli::sms_send(&config, &to, &text, json),
        Command::Sms {
            command: SmsCommand::Queue,
        } => flexsecure::cli::sms_queue(&config, json),
        Command::Keys { command } => match command {
            KeysCommand::Rotate => flexsecure::cli::keys_rotate(&config, json),
            KeysCommand::List => flexsecure::cli::keys_list(&config, json),
        },
        Command::Audit {
            account,
            action,
            limit,
        } => flexsecure::cli::audit(&config, account.as_deref(), action.as_deref(), limit, json),
        Command::Backup {
            file,
            passphrase_file,
        } => flexsecure::cli::backup(&config, &file, passphrase_file.as_deref(), json),
        Command::Restore {
            file,
            passphrase_file,
            force,
        } => flexsecure::cli::restore(&config, &file, passphrase_file.as_deref(), force, json),
        Command::Db {
            command: DbCommand::Check,
        } => flexsecure::cli::db_check(&config, json),
        Command::Bench {
            users,
            concurrency,
            duration,
            warmup,
        } => flexsecure::bench::run(&flexsecure::bench::Options {
            users,
            concurrency,
            duration_secs: duration,
            warmup_secs: warmup,
            json,
        }),
    }
}
