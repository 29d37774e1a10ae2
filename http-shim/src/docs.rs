//! `/openapi.json`, Swagger UI at `/docs` and ReDoc at `/redoc`, with their assets embedded in the
//! binary (npm's `swagger-ui-dist` 5.35.0 and `redoc` 2.5.2, fetched by `scripts/setup.sh`), so the
//! pages work offline.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

macro_rules! asset {
    ($name:literal) => {
        include_bytes!(concat!(env!("MODELRUNNER_DOCS_ASSETS"), "/", $name)).as_slice()
    };
}

const ASSETS: &[(&str, &str, &[u8])] = &[
    ("swagger-ui-bundle.js", "text/javascript", asset!("swagger-ui-bundle.js")),
    ("swagger-ui-standalone-preset.js", "text/javascript", asset!("swagger-ui-standalone-preset.js")),
    ("swagger-ui.css", "text/css", asset!("swagger-ui.css")),
    ("redoc.standalone.js", "text/javascript", asset!("redoc.standalone.js")),
    ("LICENSE.swagger-ui", "text/plain", asset!("LICENSE.swagger-ui")),
    ("LICENSE.redoc", "text/plain", asset!("LICENSE.redoc")),
];

/// One OpenAPI document a listener serves, at `url`, named `name` in Swagger UI's selector.
#[derive(Debug, Clone)]
pub struct Spec {
    pub url: &'static str,
    pub name: &'static str,
    pub json: Arc<String>,
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, bytes)) => {
            let mut resp = bytes.into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
            resp
        }
        None => (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": "no such asset"}))).into_response(),
    }
}

fn swagger_page(specs: &[Spec]) -> String {
    let urls: Vec<serde_json::Value> = specs.iter().map(|s| serde_json::json!({"url": s.url, "name": s.name})).collect();
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modelrunner — Swagger UI</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  urls: {urls}, dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"
}});
</script></body></html>"##,
        urls = serde_json::Value::from(urls)
    )
}

fn redoc_page(spec_url: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>modelrunner — ReDoc</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="{spec_url}"></redoc>
<script src="/docs/assets/redoc.standalone.js"></script></body></html>"#
    )
}

/// The documentation routes of one listener: each spec at its URL, Swagger UI over all of them, ReDoc
/// over the first.
pub fn routes<S: Clone + Send + Sync + 'static>(specs: Vec<Spec>) -> Router<S> {
    let swagger = swagger_page(&specs);
    let redoc = redoc_page(specs[0].url);
    let mut router = Router::new()
        .route("/docs", get(move || async move { Html(swagger) }))
        .route("/redoc", get(move || async move { Html(redoc) }))
        .route("/docs/assets/{name}", get(asset));
    for spec in specs {
        let json = spec.json.clone();
        router = router.route(
            spec.url,
            get(move || async move {
                let mut resp = json.as_str().to_owned().into_response();
                resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                resp
            }),
        );
    }
    router
}
