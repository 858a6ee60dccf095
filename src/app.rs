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

/// How long in-flight requests may finish after a stop signal.
pub const SHUTDOWN_SECONDS: u64 = 30;

/// A plain-HTTP server that answers every request with a redirect to the
/// same path on `public_url` (never to the request's Host header).
fn redirect_server(
    listen: &str,
    public_url: &str,
) -> anyhow::Result<(SocketAddr, actix_web::dev::Server)> {
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("server.http_redirect_listen = {listen:?} is not an address"))?;
    let listener = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    let bound = listener.local_addr()?;
    let base = public_url.trim_end_matches('/').to_string();
    let server = actix_web::HttpServer::new(move || {
        let base = base.clone();
        actix_web::App::new().default_service(actix_web::web::to(
            move |req: actix_web::HttpRequest| {
                let to = format!(
                    "{base}{}",
                    req.uri()
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/")
                );
                async move {
                    actix_web::HttpResponse::PermanentRedirect()
                        .insert_header((actix_web::http::header::LOCATION, to))
                        .finish()
                }
            },
        ))
    })
    .workers(1)
    .listen(listener)?
    .shutdown_timeout(5)
    .run();
    Ok((bound, server))
}

pub struct Application {
    addr: SocketAddr,
    public_url: String,
    data_dir: PathBuf,
    server: actix_web::dev::Server,
    dispatcher: Dispatcher,
    signer: Arc<Signer>,
    setup_link: Option<String>,
    /// The HTTPS certificate, reloaded on SIGHUP.
    certs: Option<Arc<crate::tls::CertStore>>,
    retention: crate::config::RetentionConfig,
    /// Held while the server runs.
    _lock: crate::ops::DataDirLock,
    /// The plain-HTTP listener that only redirects to HTTPS.
    redirect: Option<(SocketAddr, actix_web::dev::Server)>,
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
        let (lock, key, store, signer) = crate::blocking::run(move || {
            // One server per data directory; `restore` refuses a held lock.
            let lock = crate::ops::DataDirLock::acquire(&dir)
                .with_context(|| format!("locking the data directory {}", dir.display()))?;
            let (key, store) = open_data_dir(&dir)?;
            let signer = Signer::open(&dir, now).context("opening the signing keys")?;
            anyhow::Ok((lock, key, store, signer))
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
        let mode = crate::tls::TlsMode::of(&config, addr)?;
        let tls = {
            let (m, configured) = (mode.clone(), config.server.public_url.clone());
            crate::blocking::run(move || crate::tls::setup(&m, addr, configured.as_deref()))
                .await??
        };
        let public_url = match (&config.server.public_url, &tls) {
            (None, Some(_)) => format!("https://{addr}"),
            _ => config.public_url(addr),
        };
        if let Some(t) = &tls {
            let fp = t.certs.fingerprint();
            if t.created {
                println!("Made a self-signed TLS certificate; its SHA-256 fingerprint:\n  {fp}");
            }
            tracing::info!(fingerprint = %fp, "serving HTTPS (TLS 1.2 and 1.3)");
        }

        let services = Services::new(store, key, &public_url, Arc::new(Notify::new()))
            .with_limits(config.sms.limits.clone())
            .with_signer(signer.clone())
            .with_certs(tls.as_ref().map(|t| t.certs.clone()))
            .with_metrics(Arc::new(crate::metrics::Metrics::new(
                config.server.metrics.token.as_deref(),
            )));
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
            actix_web::HttpServer::new(move || http::app(state.clone()).app_data(dlr.clone()));
        // In-flight requests get 30 s after SIGTERM/SIGINT; queued SMS stay
        // queued for the next start.
        let server = match &tls {
            Some(t) => server.listen_rustls_0_23(listener, t.config.clone())?,
            None => server.listen(listener)?,
        }
        .shutdown_timeout(SHUTDOWN_SECONDS)
        .run();
        let redirect = match &config.server.http_redirect_listen {
            Some(l) => Some(redirect_server(l, &public_url)?),
            None => None,
        };
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
            certs: tls.map(|t| t.certs),
            retention: config.retention.clone(),
            _lock: lock,
            redirect,
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

    /// The SHA-256 fingerprint of the HTTPS certificate, when serving HTTPS.
    pub fn tls_fingerprint(&self) -> Option<String> {
        self.certs.as_ref().map(|c| c.fingerprint())
    }

    /// Where the redirecting plain-HTTP listener listens, if configured.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect.as_ref().map(|(a, _)| *a)
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
        let purge = tokio::spawn(crate::jobs::purge::run(
            self.dispatcher.services.clone(),
            self.dispatcher.clock.clone(),
            self.retention,
            self.shutdown.subscribe(),
        ));
        let mut dispatcher = tokio::spawn(self.dispatcher.run(rx));
        let keys = tokio::spawn(crate::jobs::keys::run(
            self.signer,
            self.shutdown.subscribe(),
        ));
        if let Some(certs) = self.certs.clone() {
            tokio::spawn(reload_on_sighup(certs, self.shutdown.subscribe()));
        }
        let redirect = self.redirect.map(|(_, server)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        // Our own SIGTERM/SIGINT handlers, installed before READY: actix
        // installs its own only once the server future first runs, and a
        // stop signal in between would otherwise kill the process at once.
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        let handle = self.server.handle();
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            crate::systemd::notify_stopping();
            handle.stop(true).await;
        });
        // systemd (Type=notify): the listener and the database are up.
        crate::systemd::notify_ready();
        let result = tokio::select! {
            r = self.server => r.context("HTTP server failed"),
            r = &mut dispatcher => {
                tracing::error!("SMS dispatcher stopped unexpectedly");
                r.context("SMS dispatcher panicked")
            }
        };
        let _ = self.shutdown.send(true);
        if let Some(h) = redirect {
            h.stop(true).await;
        }
        for m in &self.modems {
            m.stop();
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), dispatcher).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), keys).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), purge).await;
        result
    }
}

/// `kill -HUP`: the certificate files are read again; connections already
/// open keep theirs, new handshakes get the new one. A bad file is logged
/// and the old certificate stays.
async fn reload_on_sighup(certs: Arc<crate::tls::CertStore>, mut shutdown: watch::Receiver<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: the certificate reloads only on restart");
        return;
    };
    loop {
        tokio::select! {
            got = hup.recv() => {
                if got.is_none() {
                    return;
                }
            }
            _ = shutdown.changed() => return,
        }
        let c = certs.clone();
        match crate::blocking::run(move || c.reload()).await {
            Ok(Ok(fp)) => tracing::info!(fingerprint = %fp, "TLS certificate reloaded"),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "TLS certificate not reloaded; the old one stays")
            }
            Err(e) => tracing::error!(error = %e, "TLS reload task failed"),
        }
    }
}
