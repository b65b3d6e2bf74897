use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn healthz_answers_while_the_process_runs() {
    let app = spawn_app().await;
    let response = app.api.get("/healthz").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn readyz_is_ready_when_both_dependencies_answer() {
    let app = spawn_app().await;
    let body = app.api.get_json("/readyz").await;
    assert_eq!(body["checks"]["database"], "up");
    assert_eq!(body["checks"]["broker"], "up");
}

#[tokio::test]
async fn an_unknown_route_is_a_problem_not_an_empty_page() {
    let app = spawn_app().await;
    assert_problem(app.api.get("/api/v1/nothing-here").await, 404).await;
    let response = app
        .api
        .http
        .delete(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("sent");
    assert_problem(response, 405).await;
}
