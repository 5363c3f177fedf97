//! `sluice web`: the API and console from ClickHouse alone, without collecting (the live feed
//! from the windows the collector stored); and
//! `sluice web hash-password`, which prints the argon2 hash `[web.auth] kind = "basic"` reads.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};

/// `sluice web`.
#[derive(clap::Args, Debug)]
pub struct WebArgs {
    #[command(subcommand)]
    pub command: Option<WebCommand>,
    /// Config file with `[clickhouse]` (and optionally `[web]` and `[[reports]]`).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Listen address (overrides `[web] listen`).
    #[arg(long)]
    pub listen: Option<String>,
}

/// `sluice web ...`.
#[derive(clap::Subcommand, Debug)]
pub enum WebCommand {
    /// Read a password on standard input and print its argon2id hash (PHC string) for
    /// `[web.auth] kind = "basic"` (`secret_env` or `secret_file`).
    HashPassword,
}

pub fn run(args: &WebArgs) -> anyhow::Result<()> {
    if let Some(WebCommand::HashPassword) = args.command {
        let mut password = String::new();
        std::io::stdin()
            .read_to_string(&mut password)
            .context("reading the password on standard input")?;
        let password = password.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            bail!("empty password on standard input");
        }
        println!(
            "{}",
            web::auth::hash_password(password).map_err(|e| anyhow!(e))?
        );
        return Ok(());
    }
    let path = args
        .config
        .as_ref()
        .ok_or_else(|| anyhow!("sluice web needs --config FILE (with a [clickhouse] section)"))?;
    let cfg = crate::config::Config::load(path).map_err(|p| anyhow!("{}: {p}", path.display()))?;
    let ch = cfg
        .clickhouse
        .clone()
        .ok_or_else(|| {
            anyhow!(
                "{}: sluice web reads ClickHouse: add a [clickhouse] section",
                path.display()
            )
        })?
        .validate()?;
    let mut w = cfg.web.clone().unwrap_or_default();
    if let Some(l) = &args.listen {
        w.listen = l.clone();
    }
    let w = w
        .validate()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let reports = report::schedule::validate_all(&cfg.reports)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sluice-web")
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = schema::build_client(&ch)?;
        let mut state = web::AppState::new(&w, Some(client), "web")?;
        state.reports = reports;
        // No aggregator here: the live feed is the windows the collector stored.
        let hub = web::LiveHub::new(w.live_top, None, &[]);
        state.live = Some(hub.clone());
        let poll = state
            .client
            .clone()
            .map(|c| tokio::spawn(web::live::poll_stored(hub, c)));
        let listener = tokio::net::TcpListener::bind(w.listen)
            .await
            .with_context(|| format!("web: binding {}", w.listen))?;
        tracing::info!(addr = %w.listen, "console at http://{}/", w.listen);
        web::serve(listener, Arc::new(state), crate::run::shutdown_signal()).await?;
        if let Some(p) = poll {
            p.abort();
        }
        anyhow::Ok(())
    })
}
