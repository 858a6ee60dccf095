//! The HTTP edge: one route table (shared by `serve` and the tests), the
//! OpenAPI document generated from the same handlers, extractors and errors.

pub mod admin;
mod audit;
pub mod dlr;
pub mod error;
pub mod extract;
mod jwks;
mod link_page;
mod login;
mod ops;
mod outbox;
mod policies;
mod request_id;
mod sms_limits;
mod sms_status;
mod systems;
mod users;

use crate::clock::Clock;
use crate::service::Services;
use actix_web::{web, HttpResponse};
use std::sync::Arc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;

pub use request_id::RequestId;

/// What every handler may use.
pub struct AppState {
    pub services: Services,
    pub clock: Arc<dyn Clock>,
    /// The SMS channels, for their status.
    pub router: Arc<crate::sms::router::Router>,
    pub modems: Vec<crate::sms::modem::driver::ModemHandle>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "FlexSecure appliance API", description = "SMS passwordless and PIN authentication, on premise."),
    modifiers(&KeyScheme),
    tags(
        (name = "login", description = "The two login calls (key scope `auth`), status polling and the link page"),
        (name = "policies", description = "Key scope `manage`"),
        (name = "systems", description = "Key scope `manage`"),
        (name = "grants", description = "Key scope `manage`"),
        (name = "users", description = "Key scope `manage`"),
        (name = "usage", description = "Key scope `manage`"),
        (name = "sms-limits", description = "Anti-pumping: country allowlist and refused SMS; key scope `manage`"),
        (name = "sms", description = "SMS channels and delivery reports"),
        (name = "audit", description = "Admin changes and login decisions; key scope `manage`"),
        (name = "ops", description = "Health, readiness and Prometheus metrics, for monitoring; no API key"),
    )
)]
pub struct ApiDoc;

struct KeyScheme;

impl Modify for KeyScheme {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "apikey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("apikey"))),
        );
    }
}

/// The route table. Every endpoint registered here lands in the OpenAPI
/// document, because both come from the same `#[utoipa::path]` handlers.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(sms_limits::countries)
        .service(sms_limits::set_countries)
        .service(sms_limits::reset_countries)
        .service(sms_limits::refusals);
    cfg.service(login::start)
        .service(login::complete)
        .service(login::status)
        .service(link_page::show)
        .service(link_page::confirm)
        .service(policies::list)
        .service(policies::create)
        .service(policies::get)
        .service(policies::replace)
        .service(policies::remove)
        .service(policies::evaluate)
        .service(jwks::jwks)
        .service(systems::list)
        .service(systems::create)
        .service(systems::get)
        .service(systems::update)
        .service(systems::remove)
        .service(systems::grant)
        .service(systems::revoke)
        .service(systems::granted)
        .service(users::import)
        .service(outbox::export)
        .service(users::list)
        .service(users::create)
        .service(users::get)
        .service(users::update)
        .service(users::remove)
        .service(users::unlock)
        .service(users::usage)
        .service(users::systems)
        .service(sms_status::status)
        .service(outbox::list)
        .service(audit::list);
    // Delivery reports from HTTP gateways (their secret, no API key).
    cfg.service(dlr::report_get).service(dlr::report_post);
    // Monitoring (no API key; /metrics takes its own bearer token).
    cfg.service(ops::healthz);
    cfg.service(ops::readyz);
    cfg.service(ops::metrics);
}

/// Unknown paths and methods answer in the JSON error format too.
pub async fn fallback() -> HttpResponse {
    use actix_web::ResponseError;
    error::ApiError::NoRoute.error_response()
}

/// Builds the actix `App` with state, configs, middleware and routes, and the
/// OpenAPI document served at `/v2/openapi.json`.
pub fn app(
    state: web::Data<AppState>,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    use utoipa_actix_web::AppExt;
    let (app, api) = actix_web::App::new()
        .app_data(state)
        .app_data(extract::query_config())
        .app_data(extract::path_config())
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure)
        .split_for_parts();
    let api = web::Data::new(api);
    app.app_data(api)
        .route("/v2/openapi.json", web::get().to(openapi_json))
        // The admin UI: HTML pages, not part of the API document.
        .configure(admin::configure)
        .default_service(web::to(fallback))
        .wrap(actix_web::middleware::from_fn(extract::key_lookup))
        .wrap(actix_web::middleware::from_fn(request_id::middleware))
}

async fn openapi_json(api: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(api.get_ref())
}
