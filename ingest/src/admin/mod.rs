//! The operators' routes under `/api/v1/admin/`: every tenant's users (with what each has)
//! and subscriptions in trouble; disabling and enabling a user. Each answers 403 to anyone
//! who is not an operator.

mod subscriptions;
mod users;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The admin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(users::router())
        .merge(subscriptions::router())
}
