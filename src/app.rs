//! `Application::build`: data directory, key, database, listener, background
//! workers; `run_until_stopped` serves until the server or a worker ends.

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::ServerKey;
use crate::http::{self, AppState};
use crate::jobs::dispatcher::Dispatcher;
use crate::service::Services;
use crate::signing::Signer;
use crate::sms::modem::driver::{DeliveryReport, ModemHandle, ReportSink};
use crate::sms::router::{BreakerConfig, Router};
use crate::store::Store;
use anyhow::Context;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{watch, Notify};

pub struct Application {
    addr: SocketAddr,
    public_url: String,
    data_dir: PathBuf,
    server: actix_web::dev::Server,
    dispatcher: Dispatcher,
    signer: Arc<Signer>,
    setup_link: Option<String>,
    modems: Vec<ModemHandle>,
    shutdown: watch::Sender<bool>,
}

/// Where modem threads leave delivery reports: straight into the outbox
/// (they run on their own threads, so a blocking write is fine there).
fn delivery_sink(services: &Services, clock: &Arc<dyn Clock>) -> ReportSink {
    let store = services.store.clone();
    let clock = clock.clone();
    Arc::new(move |r: DeliveryReport| {
        let now = clock.now();
        let result = store.write_blocking(move |db| {
            db.record_delivery_or_keep(&r.channel, &r.provider_id, r.delivered, now)
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot record a delivery report");
        }
    })
}

/// Creates the data directory (mode 0700) if needed and opens the key and
/// the database in it. Blocking: for startup and the CLI.
pub fn open_data_dir(dir: &Path) -> anyhow::Result<(ServerKey, Store)> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("restricting {}", dir.display()))?;
        }
    }
    let key = ServerKey::load_or_create(dir)?;
    let store =
        Store::open(dir).with_context(|| format!("opening the database in {}", dir.display()))?;
    Ok((key, store))
}

impl Application {
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let data_dir = config.data_dir();
        let dir = data_dir.clone();
        let now = clock.now();
        let (key, store, signer) = crate::blocking::run(move || {
            let (key, store) = open_data_dir(&dir)?;
            let signer = Signer::open(&dir, now).context("opening the signing keys")?;
            anyhow::Ok((key, store, signer))
        })
        .await??;
        let signer = Arc::new(signer);
        let requeued = store.write(move |db| db.requeue_interrupted(now)).await?;
        if requeued > 0 {
            tracing::warn!(
                requeued,
                "SMS interrupted by the last stop are queued again (they may arrive twice)"
            );
        }
        let listener = TcpListener::bind(config.listen_addr()?).with_context(|| {
            format!(
                "binding {}",
                config
                    .listen_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            )
        })?;
        let addr = listener.local_addr()?;
        let public_url = config.public_url(addr);

        let services = Services::new(store, key, &public_url, Arc::new(Notify::new()))
            .with_limits(config.sms.limits.clone())
            .with_signer(signer.clone());
        // No operator yet: a one-time link to create the first one. Printed,
        // never logged (it is a secret until used).
        let setup_link = services.first_run_setup_link(now).await?;
        if let Some(link) = &setup_link {
            println!(
                "No operator exists yet. Create the first one (link valid 24 h, once):\n  {link}"
            );
            tracing::warn!("no operator exists yet: the setup link is printed on standard output");
        }
        let crate::sms::Channels {
            routes: channels,
            modems,
        } = {
            // Reads CA files and starts modem threads: off the async workers.
            let (sms, c, sink, url) = (
                config.sms.clone(),
                clock.clone(),
                delivery_sink(&services, &clock),
                public_url.clone(),
            );
            crate::blocking::run(move || crate::sms::from_config(&sms, c, sink, &url)).await??
        };
        let router = Arc::new(Router::new(channels, BreakerConfig::default()));
        let state = actix_web::web::Data::new(AppState {
            services: services.clone(),
            clock: clock.clone(),
            router: router.clone(),
            modems: modems.clone(),
        });
        let dlr =
            actix_web::web::Data::new(crate::http::dlr::DlrGateways::from_config(&config.sms.http));
        let server =
            actix_web::HttpServer::new(move || http::app(state.clone()).app_data(dlr.clone()))
                .listen(listener)?
                .shutdown_timeout(10)
                .run();
        let dispatcher = Dispatcher {
            services,
            router,
            clock,
        };
        let (shutdown, _) = watch::channel(false);
        Ok(Self {
            addr,
            public_url,
            data_dir,
            server,
            dispatcher,
            signer,
            setup_link,
            modems,
            shutdown,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The first-run setup link, when no operator existed at startup.
    pub fn setup_link(&self) -> Option<&str> {
        self.setup_link.as_deref()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Serves until the server stops (SIGINT/SIGTERM are handled by actix),
    /// then stops the background workers.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let rx = self.shutdown.subscribe();
        let mut dispatcher = tokio::spawn(self.dispatcher.run(rx));
        let keys = tokio::spawn(crate::jobs::keys::run(
            self.signer,
            self.shutdown.subscribe(),
        ));
        let result = tokio::select! {
            r = self.server => r.context("HTTP server failed"),
            r = &mut dispatcher => {
                tracing::error!("SMS dispatcher stopped unexpectedly");
                r.context("SMS dispatcher panicked")
            }
        };
        let _ = self.shutdown.send(true);
        for m in &self.modems {
            m.stop();
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), dispatcher).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), keys).await;
        result
    }
}
