//! The `crmdav` binary: `serve`, `check`, `users`, `hash-password`, `app-password`, `backup`,
//! `restore`, `new-epoch`, and the person commands `link`, `unlink`, `devices`, `revoke`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "crmdav", version, about = "CalDAV/CardDAV gateway for CRMs")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway.
    Serve {
        /// The server config file.
        #[arg(long)]
        config: PathBuf,
        /// Listen address (overrides the config's `listen`).
        #[arg(long, env = "CRMDAV_LISTEN")]
        listen: Option<String>,
    },
    /// Validate every config file and print what would be served.
    Check {
        /// The server config file.
        #[arg(long)]
        config: PathBuf,
        /// Also connect to this tenant's CRM and read a page of each entity.
        #[arg(long)]
        tenant: Option<String>,
        /// With --tenant: what this person would see (scopes, CRM queries, live record
        /// counts, CRM calls) instead of the entity probe.
        #[arg(long = "as", requires = "tenant")]
        as_user: Option<String>,
    },
    /// Print an argon2 hash of a password read from standard input, for a tenant file.
    HashPassword,
    /// Create, list and revoke app passwords (one per person and device).
    AppPassword {
        #[command(subcommand)]
        cmd: crmdav::admin::AppPasswordCmd,
    },
    /// List a tenant's people: who is linked to a CRM user, who is not, and why.
    Users {
        /// The server config file.
        #[arg(long)]
        config: PathBuf,
        /// The tenant.
        #[arg(long)]
        tenant: String,
    },
    /// Back up, restore, or start a new epoch after a restore.
    #[command(flatten)]
    Backup(crmdav::backup::BackupCmd),
    /// Link, unlink, list the devices of, or revoke everything of a person.
    #[command(flatten)]
    Person(crmdav::admin::PersonCmd),
}

/// Logs to standard error, filtered by `CRMDAV_LOG`; one JSON object per line when
/// `CRMDAV_LOG_FORMAT=json` (the request's span fields, id, method, path, client, tenant and
/// user, are in each line's `span`).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CRMDAV_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match std::env::var("CRMDAV_LOG_FORMAT").as_deref() {
        Ok("json") => builder.json().flatten_event(true).init(),
        _ => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

/// glibc malloc arenas the server may use (docs/benchmarks.md, Round two: memory).
const MALLOC_ARENAS: i32 = 2;

/// Bound glibc's malloc arenas before any thread starts. glibc gives each allocating thread
/// an arena of its own, up to eight per core (actix and tokio workers, the blocking pool,
/// sqlx's eight SQLite threads), and each keeps what a burst of concurrent answers freed:
/// measured, peak RSS over the c=8 bench at 10,000 items fell from 136 MB to 73 MB with two.
/// An operator's own `MALLOC_ARENA_MAX` is left in force.
fn bound_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // glibc's <malloc.h>; the value of M_ARENA_MAX is glibc's ABI.
        extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        const M_ARENA_MAX: std::ffi::c_int = -8;
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
        // SAFETY: mallopt only sets a malloc parameter; called before other threads exist.
        unsafe {
            mallopt(M_ARENA_MAX, MALLOC_ARENAS);
            // A fixed threshold: blocks of 4 MiB and more (argon2's 19 MiB per password
            // check, at start for the dummy hash and per login) are mapped and given back when
            // freed; glibc's sliding default raises the threshold past them after the first
            // free, and each arena then keeps 19 MiB for good.
            mallopt(M_MMAP_THRESHOLD, 4 << 20);
            // Fixing that threshold also fixed the trim threshold at glibc's 128 KiB: the
            // megabyte buffers of a large answer (addressbook-query's 1.2 MB) were given back
            // after each request and faulted in again on the next (~20 % of its CPU). Up to
            // 8 MiB free at the top of a heap stays.
            mallopt(M_TRIM_THRESHOLD, 8 << 20);
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::AppPassword { cmd } => crmdav::admin::run(cmd),
        Cmd::Backup(cmd) => crmdav::backup::run(cmd),
        Cmd::Person(cmd) => crmdav::admin::run_person(cmd),
        Cmd::HashPassword => {
            let mut pw = String::new();
            if std::io::stdin().read_line(&mut pw).is_err() {
                eprintln!("cannot read the password from standard input");
                return ExitCode::FAILURE;
            }
            match crmdav::auth::hash_password(pw.trim_end_matches(['\n', '\r'])) {
                Ok(h) => {
                    println!("{h}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("hashing failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Check {
            config,
            tenant,
            as_user,
        } => match crmdav::crm::definitions::load_config(&config) {
            Ok(cfg) => {
                print!("{}", crmdav::check::describe(&cfg));
                if let Some(t) = tenant {
                    let rt = match tokio::runtime::Runtime::new() {
                        Ok(rt) => rt,
                        Err(e) => {
                            eprintln!("{e}");
                            return ExitCode::FAILURE;
                        }
                    };
                    let probe = async {
                        match &as_user {
                            Some(u) => crmdav::check_as::probe_as(&cfg, &t, u).await,
                            None => crmdav::check::probe_tenant(&cfg, &t).await,
                        }
                    };
                    return match rt.block_on(probe) {
                        Ok(report) => {
                            print!("{report}");
                            ExitCode::SUCCESS
                        }
                        Err(e) => {
                            eprintln!("tenant {t}: {e}");
                            ExitCode::FAILURE
                        }
                    };
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("config error: {e}");
                ExitCode::FAILURE
            }
        },
        Cmd::Users { config, tenant } => {
            let cfg = match crmdav::crm::definitions::load_config(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("config error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(crmdav::people::users_report(&cfg, &tenant)) {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tenant {tenant}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Serve { config, listen } => {
            bound_malloc_arenas();
            init_logging();
            let cfg = match crmdav::crm::definitions::load_config(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("config error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let listen = listen.unwrap_or_else(|| cfg.listen.clone());
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let result = rt.block_on(async move {
                let state = crmdav::app::build_state(cfg).await?;
                crmdav::reload::on_hangup(state.clone());
                crmdav::http::serve(state, &listen).await
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("crmdav: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
