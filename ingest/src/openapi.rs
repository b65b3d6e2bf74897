//! The OpenAPI 3 document, generated from the handlers' annotations and served at
//! `GET /api/openapi.json`.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

/// The document's fixed parts; every path is added by the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Warren",
        description = "A RabbitMQ-native webhook relay: ingest, subscriptions, deliveries, dead letters."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "ingest", description = "Where providers send events"),
        (name = "auth", description = "Accounts and sessions"),
        (name = "api-keys", description = "Long-lived tokens for applications"),
        (name = "sources", description = "Where events come from"),
        (name = "subscriptions", description = "Where events go"),
        (name = "events", description = "Events received or published"),
        (name = "deliveries", description = "One event on its way to one subscription"),
        (name = "dead-letters", description = "Deliveries out of attempts"),
        (name = "operations", description = "What the broker holds"),
        (name = "notifications", description = "Telling owners when a receiver is in trouble"),
    )
)]
pub struct ApiDoc;

/// `Authorization: Bearer <session token or API key>`.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token (`wrn_sess_…`) or an API key (`wrn_key_…`)",
                    ))
                    .build(),
            ),
        );
    }
}
