//! `magictime serve`: the axum app — SSR + hydration, server functions, static assets with
//! caching headers, compression, request tracing, CSRF, graceful shutdown.
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    http::{
        header::{
            CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
            X_FRAME_OPTIONS,
        },
        HeaderName, HeaderValue,
    },
    routing::get,
    Router,
};
use clap::Args;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use magictime_app::{
    app::{shell, App},
    ssr::{
        auth, cookies, db,
        demo::DemoLimits,
        rate_limit::{LoginThrottle, TokenBuckets},
        ServerState, UploadLimits,
    },
};
use magictime_model::backend::BackendKind;
use tower::ServiceBuilder;
use tower_http::{
    compression::CompressionLayer,
    services::ServeDir,
    set_header::SetResponseHeaderLayer,
    trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer},
};
use tracing::Level;

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MAGICTIME_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Where the database (unless `--database-url`) and media live (created on first start).
    #[arg(long, env = "MAGICTIME_DATA_DIR", default_value = "./var")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The built site (pkg/ with the WASM bundle, CSS, public files).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// What jobs generate, evaluate and cut with (also the studies' CLIP).
    #[command(flatten)]
    pub engine: crate::worker::EngineArgs,
    /// How the worker inside this server takes and runs jobs.
    #[command(flatten)]
    pub jobs: crate::worker::JobArgs,
    /// Run no job worker in this process: jobs wait for `magictime worker` processes (on this
    /// or other machines sharing the data dir). See the README's "Scaling out".
    #[arg(long, env = "MAGICTIME_NO_WORKER")]
    pub no_worker: bool,
    /// Plain HTTP without TLS in front (local use, `make run`): cookies lose `Secure` and the
    /// `__Host-` prefix. By default they have both, so a browser only keeps them over HTTPS.
    #[arg(long, env = "MAGICTIME_INSECURE_HTTP")]
    pub insecure_http: bool,
    /// Largest stimulus upload, in MiB (larger ones are refused with 413 while streaming).
    #[arg(long, env = "MAGICTIME_MAX_UPLOAD_MB", default_value_t = 512)]
    pub max_upload_mb: u64,
    /// Disk quota of one researcher's studies (stored media plus uploads in flight), in MiB.
    #[arg(long, env = "MAGICTIME_UPLOAD_QUOTA_MB", default_value_t = 8192)]
    pub upload_quota_mb: u64,
    /// The most generations one user may have waiting in the queue (queued, not yet running);
    /// the next is refused (429) until one starts or is cancelled.
    #[arg(long, env = "MAGICTIME_MAX_QUEUED_GENERATIONS", default_value_t = 5,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub max_queued_generations: i64,
    /// The public demo (an admin turns it on on the Admin page; off by default): generations
    /// per hour per client address and per visitor (also the burst).
    #[arg(long, env = "MAGICTIME_DEMO_PER_HOUR", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub demo_per_hour: u32,
    /// The public demo: the most visitors' generations waiting in the queue, all together.
    #[arg(long, env = "MAGICTIME_DEMO_QUEUE", default_value_t = 10,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub demo_queue: i64,
    /// The public demo: the most denoising steps a visitor may ask for.
    #[arg(long, env = "MAGICTIME_DEMO_MAX_STEPS", default_value_t = 25,
          value_parser = clap::value_parser!(u64).range(1..=100))]
    pub demo_max_steps: u64,
    /// The public demo: the most frames a visitor may ask for.
    #[arg(long, env = "MAGICTIME_DEMO_MAX_FRAMES", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=512))]
    pub demo_max_frames: u64,
    /// The public demo: the largest image side a visitor may ask for, in pixels.
    #[arg(long, env = "MAGICTIME_DEMO_MAX_SIZE", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(16..=512))]
    pub demo_max_size: u64,
    /// A reverse proxy in front of the server (repeat for several): its `X-Forwarded-For` names
    /// the client for per-client limits. Without it, the header is ignored.
    #[arg(long, env = "MAGICTIME_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxy: Vec<std::net::IpAddr>,
    /// Caps on untrusted videos and on the child process that decodes them.
    #[command(flatten)]
    pub decode: crate::media::DecodeLimits,
}

/// Which database a command opens: `--database-url` (PostgreSQL, shared by the web server and
/// the workers of several machines), else the SQLite file `magictime.sqlite` in the data dir.
#[derive(Args, Clone, Debug, Default)]
pub struct DatabaseArgs {
    /// The database: postgres://user:password@host:port/database. Without it, the SQLite file
    /// `magictime.sqlite` in the data dir. See the README's "Scaling out".
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

impl DatabaseArgs {
    /// The URL of the database of `data_dir`.
    pub fn url(&self, data_dir: &Path) -> String {
        db::url_for(data_dir, self.database_url.as_deref())
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // bad job settings are refused before anything is touched
    args.jobs.check()?;
    // without a worker, the model only checks requests: on the CPU, whatever --device says
    let device = if args.no_worker {
        BackendKind::Cpu
    } else {
        args.jobs.backend()?
    };
    let generator =
        crate::generator::for_device(device, args.engine.model.clone(), args.engine.ckpts.clone())?;
    std::fs::create_dir_all(&args.data_dir)?;
    let pool = db::open(&args.database.url(&args.data_dir)).await?;
    sweep_partial_outputs(&pool, &args.data_dir).await?;
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;

    let leptos_options = LeptosOptions::builder()
        .output_name("magictime")
        .site_root(args.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();

    let purged = auth::purge_expired_sessions(&pool).await?;
    if purged > 0 {
        tracing::info!(purged, "expired sessions deleted");
    }
    let setup_token_hash = if auth::admin_exists(&pool).await? {
        None
    } else {
        let token = cookies::random_token();
        tracing::warn!(
            "no admin account yet: create one at http://{addr}/setup?token={token} \
             (or run `magictime admin create --email …`)"
        );
        Some(cookies::token_hash(&token))
    };

    let state = ServerState {
        leptos_options,
        pool: pool.clone(),
        data_dir: args.data_dir.clone(),
        secure_cookies: !args.insecure_http,
        // Three free failures per e-mail and client in 15 min, then 1 s, 2 s, 4 s … between
        // attempts; an attempt queued more than a minute ahead is refused.
        login_limiter: Arc::new(LoginThrottle::new(
            Duration::from_secs(15 * 60),
            3,
            Duration::from_secs(1),
            Duration::from_secs(60),
        )),
        trusted_proxies: Arc::new(args.trusted_proxy.clone()),
        setup_token_hash: Arc::new(Mutex::new(setup_token_hash)),
        media: Arc::new(crate::media::DataMedia::new(args.decode.clone())),
        generator: generator.clone(),
        scorer: Arc::new(crate::scorer::ClipScorer::new(args.engine.clip_setting())),
        jobs_notify: Arc::new(tokio::sync::Notify::new()),
        upload_limits: UploadLimits {
            max_bytes: args.max_upload_mb << 20,
            quota_bytes: args.upload_quota_mb << 20,
        },
        max_queued_generations: args.max_queued_generations,
        demo: DemoLimits {
            per_hour: args.demo_per_hour,
            queue_cap: args.demo_queue,
            request: magictime_app::types::RequestLimits {
                max_steps: args.demo_max_steps as usize,
                max_frames: args.demo_max_frames as usize,
                max_size: args.demo_max_size as usize,
            },
        },
        demo_buckets: Arc::new(TokenBuckets::new(
            args.demo_per_hour,
            f64::from(args.demo_per_hour) / 3600.0,
        )),
    };
    // the in-process worker: the same code as `magictime worker`
    let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = if args.no_worker {
        tracing::info!(
            "no job worker in this process (--no-worker): jobs wait for `magictime worker`"
        );
        None
    } else {
        let w = Arc::new(crate::worker::Worker::new(
            pool.clone(),
            args.data_dir.clone(),
            &args.engine,
            &args.jobs,
            generator,
            state.jobs_notify.clone(),
        )?);
        Some(tokio::spawn(w.run(async {
            let _ = worker_stopped.await;
        })))
    };
    let app = router(state);

    // No Nagle: SSR streams the page in several small writes; with Nagle + the client's delayed
    // ACK each page waited ~40 ms (measured with tools/bench/annotate_bench.py).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });

    let shutdown = shutdown_signal();
    if !args.insecure_http {
        println!(
            "Cookies are Secure with the __Host- prefix: serve this behind TLS (browsers also \
             accept them from http://localhost), or pass --insecure-http for plain HTTP."
        );
    }
    println!("MagicTime ready at http://{addr}");
    tracing::info!("listening on http://{addr}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    // running jobs stop at their next step and go back to the queue
    let _ = stop_worker.send(());
    if let Some(w) = worker {
        let _ = w.await;
    }
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Before serving: what a kill left half-written is removed — partial outputs and checkpoints
/// of jobs that are neither queued nor running (those of live jobs are their workers', here or
/// on other machines), uploads in flight, stimuli being normalised, and the outputs of jobs
/// that did not finish (interrupted between the rename and the row update). Jobs that were
/// running here are left to their leases: once a lease runs out, a worker takes the job again.
async fn sweep_partial_outputs(pool: &sqlx::AnyPool, data_dir: &Path) -> anyhow::Result<()> {
    let unfinished: Vec<(String, i64)> =
        sqlx::query_as("SELECT kind, id FROM jobs WHERE status IN ('failed', 'cancelled')")
            .fetch_all(pool)
            .await?;
    let live: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM jobs WHERE status IN ('queued', 'running')")
            .fetch_all(pool)
            .await?;
    let dir = data_dir.to_path_buf();
    let gone =
        tokio::task::spawn_blocking(move || crate::output::sweep(&dir, &unfinished, &live)).await?;
    for p in &gone {
        tracing::warn!(
            "removed {} (left half-written by the last stop)",
            p.display()
        );
    }
    Ok(())
}

/// The whole app as a router (also what the router tests call).
pub fn router(state: ServerState) -> Router {
    let routes = generate_route_list(App);
    let pkg_dir = Path::new(&*state.leptos_options.site_root).join("pkg");
    // The bundle's file names carry no hash: browsers revalidate (ETag/Last-Modified → 304).
    let pkg = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=0, must-revalidate"),
        ))
        .service(
            ServeDir::new(pkg_dir)
                .precompressed_br()
                .precompressed_gzip(),
        );

    Router::new()
        .route("/healthz", get(crate::health::healthz))
        .merge(crate::routes::studies::routes(
            crate::routes::studies::writer(&state.pool),
        ))
        .route(
            "/media/generated/{file}",
            get(crate::routes::generated::video),
        )
        .nest_service("/pkg", pkg)
        .merge(crate::routes::annotate::router())
        .leptos_routes(&state, routes, {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<ServerState, _>(shell))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::csrf::layer,
        ))
        .layer(CompressionLayer::new().gzip(true).br(true))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        // Security headers on every page, file and error.
        .layer(header_layer(CONTENT_SECURITY_POLICY, CSP))
        .layer(header_layer(X_FRAME_OPTIONS, "DENY"))
        .layer(header_layer(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Participant URLs carry panel ids: never send them to other sites.
        .layer(header_layer(REFERRER_POLICY, "same-origin"))
        .with_state(state)
}

/// The page policy: scripts, styles, media and requests from this origin only; inline scripts
/// and styles are allowed (Leptos' hydration and streaming, the participant page), WASM may be
/// compiled; no plugins, no foreign `<base>` or form targets, and no framing (clickjacking).
const CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; \
    connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
    frame-ancestors 'none'";

/// A header set on every response that has none of its own.
fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Resolves on SIGINT or SIGTERM. The handlers are registered when this is called (not when the
/// future is first polled), so a signal that arrives right after the "ready" line is not lost
/// to the default action (which would kill the process without a graceful shutdown).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(int) => {},
            _ = wait(term) => {},
        }
        tracing::info!("shutdown signal received: finishing in-flight requests");
    }
}
