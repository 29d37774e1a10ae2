//! 004, the Flask training backend (`http://127.0.0.1:8080`): layer-list model definitions, one
//! training run at a time with live SSE events, cancel, promote a run, and inference on 784 pixels.
//! Errors: `{error}`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Response};
use modelrunner::{
    Event, EventBody, MAX_LIMIT, Model, ModelPatch, ModelSpec, PageRequest, Run, RunFilter, RunKind, RunSpec, RunStatus, Runner,
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::errors::{ApiError, Front, JsonBody, Problem, StatusConventions};
use crate::sse;
use crate::state::AppState;

/// 004's error conventions.
#[derive(Debug)]
pub struct Flask;

impl Front for Flask {
    // 004: 400 for validation, 409 for invalid state.
    const STATUS: StatusConventions =
        StatusConventions { unreadable: StatusCode::BAD_REQUEST, validation: StatusCode::BAD_REQUEST, state: StatusCode::CONFLICT };

    fn body(p: &Problem) -> Value {
        json!({"error": p.message})
    }
}

type Result<T> = std::result::Result<T, ApiError<Flask>>;

/// The task that trains 004's networks.
const TRAIN_TASK: &str = "neural_train";

/// 004's routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_models, upsert_model))
        .routes(routes!(get_model))
        .routes(routes!(save_model))
        .routes(routes!(train))
        .routes(routes!(cancel))
        .routes(routes!(events))
        .routes(routes!(infer))
}

/// A training run as 004 shows it (`state` for the status).
fn run_json(run: &Run) -> Value {
    json!({
        "run_id": run.id,
        "model_id": run.model_id,
        "state": run.status,
        "progress": run.progress,
        "message": run.message,
        "current_epoch": run.current_epoch,
        "current_loss": run.current_loss,
        "metrics": run.metrics,
        "saved_model_path": run.artifacts.get("model_path"),
        "error": run.error,
        "device": run.device,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    })
}

/// 004's model summary: definition, training flags, run count and the latest succeeded run; with
/// `all_runs`, every training run of the model too (newest first).
fn summary(r: &Runner, model: &Model, all_runs: bool) -> modelrunner::Result<Value> {
    let limit = if all_runs { MAX_LIMIT } else { 1 };
    let runs = r.list_runs(&RunFilter {
        model_id: Some(model.id.clone()),
        kind: Some(RunKind::Train),
        page: PageRequest { limit, offset: 0 },
        ..RunFilter::default()
    })?;
    let last_succeeded = r.list_runs(&RunFilter {
        model_id: Some(model.id.clone()),
        kind: Some(RunKind::Train),
        status: Some(RunStatus::Succeeded),
        page: PageRequest { limit: 1, offset: 0 },
        ..RunFilter::default()
    })?;
    let exists = model.saved_model_path.as_deref().is_some_and(|p| std::path::Path::new(p).is_file());
    let mut out = json!({
        "model_id": model.id,
        "name": model.name,
        "description": model.description,
        "architecture": model.architecture,
        "hyperparams": model.hyperparams,
        "trained": model.trained,
        "saved_model_path": model.saved_model_path,
        "saved_model_exists": exists,
        "trained_run_id": model.trained_run_id,
        "last_trained_at": model.last_trained_at,
        "status": model.status,
        "runs_total": runs.total,
        "last_run": last_succeeded.items.first().map(run_json),
        "created_at": model.created_at,
        "updated_at": model.updated_at,
    });
    if all_runs {
        out["runs"] = runs.items.iter().map(run_json).collect();
    }
    Ok(out)
}

#[utoipa::path(get, path = "/api/models", tag = "004 Flask training backend", summary = "Model summaries", responses((status = 200, description = "Every model with its training flags and latest succeeded run", body = serde_json::Value)))]
async fn list_models(State(state): State<AppState>) -> Result<Response> {
    let summaries = state.call(|r| r.all_models()?.iter().map(|m| summary(r, m, false)).collect::<modelrunner::Result<Vec<_>>>()).await?;
    Ok(axum::Json(summaries).into_response())
}

#[utoipa::path(get, path = "/api/models/{model_id}", tag = "004 Flask training backend", summary = "One model with its training runs", params(("model_id" = String, Path, description = "The model")), responses((status = 200, description = "The summary", body = serde_json::Value), (status = 404, description = "Unknown model", body = serde_json::Value)))]
async fn get_model(State(state): State<AppState>, Path(model_id): Path<String>) -> Result<Response> {
    let out = state.call(move |r| summary(r, &r.get_model(&model_id)?, true)).await?;
    Ok(axum::Json(out).into_response())
}

/// The model `id` names, if it is stored (004 creates the ones that are not).
fn stored_model(r: &Runner, id: Option<&str>) -> modelrunner::Result<Option<Model>> {
    match id.map(|id| r.get_model(id)) {
        None | Some(Err(modelrunner::Error::NotFound { .. })) => Ok(None),
        Some(found) => found.map(Some),
    }
}

/// `POST /api/models`: create, or update only the fields given.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ModelUpsert {
    model_id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    architecture: Option<Value>,
    hyperparams: Option<Value>,
    trained: Option<bool>,
    saved_model_path: Option<String>,
}

#[utoipa::path(post, path = "/api/models", tag = "004 Flask training backend", summary = "Create a model, or update the fields given", request_body = ModelUpsert, responses((status = 201, description = "Created", body = serde_json::Value), (status = 200, description = "Updated", body = serde_json::Value), (status = 400, description = "Invalid definition or weights path", body = serde_json::Value), (status = 409, description = "trained without weights", body = serde_json::Value)))]
async fn upsert_model(State(state): State<AppState>, JsonBody(body, ..): JsonBody<Flask, ModelUpsert>) -> Result<Response> {
    let (created, out) = state
        .call(move |r| {
            if let Some(path) = &body.saved_model_path {
                // Checked before anything is written.
                modelrunner::nn::saved::SavedModel::read(std::path::Path::new(path), "saved_model_path")?;
            }
            let existing = stored_model(r, body.model_id.as_deref())?;
            let created = existing.is_none();
            let mut model = match existing {
                Some(m) => {
                    let patch = ModelPatch {
                        name: body.name,
                        description: body.description,
                        architecture: body.architecture,
                        hyperparams: body.hyperparams,
                        ..ModelPatch::default()
                    };
                    if patch == ModelPatch::default() { m } else { r.update_model(&m.id, patch)? }
                }
                None => r.create_model(ModelSpec {
                    id: body.model_id.clone(),
                    name: body.name.unwrap_or_else(|| body.model_id.clone().unwrap_or_else(|| "Untitled model".into())),
                    description: body.description,
                    architecture: body.architecture,
                    hyperparams: body.hyperparams,
                    ..ModelSpec::default()
                })?,
            };
            match (body.trained, body.saved_model_path) {
                (Some(false), _) => model = r.save_model_definition(&model.id, None, None)?,
                (_, Some(path)) => model = r.attach_saved_model(&model.id, &path)?,
                (Some(true), None) if !model.trained => {
                    return Err(modelrunner::Error::Conflict(format!(
                        "model {} has no saved weights: give saved_model_path, or promote a succeeded run with POST /api/models/{}/save",
                        model.id, model.id
                    )));
                }
                _ => {}
            }
            Ok((created, summary(r, &model, false)?))
        })
        .await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, axum::Json(out)).into_response())
}

/// `POST /api/models/<id>/save`: a definition (no `run_id`), or the promotion of a succeeded run.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct SaveBody {
    run_id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    architecture: Option<Value>,
    hyperparams: Option<Value>,
}

#[utoipa::path(post, path = "/api/models/{model_id}/save", tag = "004 Flask training backend", summary = "Store a definition, or promote a succeeded run", params(("model_id" = String, Path, description = "The model")), request_body = SaveBody, responses((status = 200, description = "The stored model", body = serde_json::Value), (status = 400, description = "Invalid", body = serde_json::Value), (status = 404, description = "Unknown model or run", body = serde_json::Value), (status = 409, description = "The run has not succeeded or has no weights", body = serde_json::Value)))]
async fn save_model(
    State(state): State<AppState>,
    Path(model_id): Path<String>,
    JsonBody(body, ..): JsonBody<Flask, SaveBody>,
) -> Result<Response> {
    let out = state
        .call(move |r| {
            let model = match body.run_id {
                Some(run_id) => {
                    let model = r.promote_run(&model_id, &run_id)?;
                    let mut out = summary(r, &model, false)?;
                    out["run_id"] = json!(run_id);
                    return Ok(out);
                }
                None => match r.get_model(&model_id) {
                    Ok(_) => r.save_model_definition(&model_id, body.architecture, body.hyperparams)?,
                    Err(modelrunner::Error::NotFound { .. }) => r.create_model(ModelSpec {
                        id: Some(model_id.clone()),
                        name: body.name.unwrap_or_else(|| model_id.clone()),
                        description: body.description,
                        architecture: body.architecture,
                        hyperparams: body.hyperparams,
                        ..ModelSpec::default()
                    })?,
                    Err(e) => return Err(e),
                },
            };
            summary(r, &model, false)
        })
        .await?;
    Ok(axum::Json(out).into_response())
}

/// `POST /api/train`: a definition to train (new model unless `model_id` names one).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct TrainBody {
    model_id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    architecture: Option<Value>,
    hyperparams: Option<Value>,
}

/// The active (queued or running) training run, if any.
fn active_training(r: &Runner) -> modelrunner::Result<Option<String>> {
    for status in [RunStatus::Running, RunStatus::Queued] {
        let page = r.list_runs(&RunFilter {
            task: Some(TRAIN_TASK.into()),
            status: Some(status),
            page: PageRequest { limit: 1, offset: 0 },
            ..RunFilter::default()
        })?;
        if let Some(run) = page.items.first() {
            return Ok(Some(run.id.clone()));
        }
    }
    Ok(None)
}

#[utoipa::path(post, path = "/api/train", tag = "004 Flask training backend", summary = "Start a training run (one at a time)", request_body = TrainBody, responses((status = 202, description = "Accepted: model_id, run_id, events_url", body = serde_json::Value), (status = 400, description = "Invalid definition", body = serde_json::Value), (status = 409, description = "A training run is active", body = serde_json::Value)))]
async fn train(State(state): State<AppState>, JsonBody(body, ..): JsonBody<Flask, TrainBody>) -> Result<Response> {
    // One check-then-submit at a time, so two requests cannot both find no active run.
    let _gate = state.train_gate.lock().await;
    let (model_id, run) = state
        .call(move |r| {
            if let Some(active) = active_training(r)? {
                return Err(modelrunner::Error::Conflict(format!(
                    "training run {active} is still active; only one training run may be active at a time"
                )));
            }
            let mut inputs = serde_json::Map::new();
            if let Some(a) = &body.architecture {
                inputs.insert("architecture".into(), a.clone());
            }
            let spec = RunSpec::task(RunKind::Train, TRAIN_TASK)
                .with_inputs(Value::Object(inputs))
                .with_hyperparams(body.hyperparams.clone().unwrap_or_else(|| json!({})));
            let existing = stored_model(r, body.model_id.as_deref())?;
            match existing {
                Some(model) => Ok((model.id.clone(), r.submit(spec.with_model(model.id))?)),
                None => {
                    let model = ModelSpec {
                        id: body.model_id,
                        name: body.name.unwrap_or_else(|| "Untitled model".into()),
                        description: body.description,
                        architecture: body.architecture,
                        hyperparams: body.hyperparams,
                        ..ModelSpec::default()
                    };
                    let (model, run) = r.create_model_and_train(model, spec)?;
                    Ok((model.id, run))
                }
            }
        })
        .await?;
    let out = json!({
        "model_id": model_id,
        "run_id": run.id,
        "state": run.status,
        "events_url": format!("/api/runs/{}/events", run.id),
    });
    Ok((StatusCode::ACCEPTED, axum::Json(out)).into_response())
}

#[utoipa::path(post, path = "/api/train/{run_id}/cancel", tag = "004 Flask training backend", summary = "Cancel a queued or running training run", params(("run_id" = String, Path, description = "The run")), responses((status = 202, description = "Cancellation issued", body = serde_json::Value), (status = 404, description = "Unknown run", body = serde_json::Value), (status = 409, description = "Already finished", body = serde_json::Value)))]
async fn cancel(State(state): State<AppState>, Path(run_id): Path<String>) -> Result<Response> {
    let run = state.call(move |r| r.cancel_run(&run_id)).await?;
    let out = json!({"run_id": run.id, "state": run.status, "message": "cancellation requested"});
    Ok((StatusCode::ACCEPTED, axum::Json(out)).into_response())
}

/// One core event as 004's SSE: `state` and `metric` (its documented events), `progress` and `log`.
fn render(event: &Event) -> Option<SseEvent> {
    let (name, data) = match &event.body {
        EventBody::State { status, message, error } => {
            ("state", json!({"run_id": event.run_id, "state": status, "message": message, "error": error, "at": event.at}))
        }
        EventBody::Metric { name, step, value } => {
            ("metric", json!({"run_id": event.run_id, "name": name, "step": step, "value": value, "at": event.at}))
        }
        EventBody::Progress { progress, message, epoch, loss } => (
            "progress",
            json!({"run_id": event.run_id, "progress": progress, "message": message, "epoch": epoch, "loss": loss, "at": event.at}),
        ),
        EventBody::Log { line } => ("log", json!({"run_id": event.run_id, "line": line, "at": event.at})),
    };
    Some(SseEvent::default().event(name).data(data.to_string()))
}

#[utoipa::path(get, path = "/api/runs/{run_id}/events", tag = "004 Flask training backend", summary = "Server-Sent Events of a run: history, then live state and metric events", params(("run_id" = String, Path, description = "The run")), responses((status = 200, description = "text/event-stream", content_type = "text/event-stream"), (status = 404, description = "Unknown run", body = serde_json::Value)))]
async fn events(State(state): State<AppState>, Path(run_id): Path<String>, headers: HeaderMap) -> Result<Response> {
    sse::run_stream::<Flask>(&state, run_id, sse::last_event_id(&headers), render).await
}

/// `POST /api/infer`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct InferBody {
    run_id: String,
    pixels: Vec<f64>,
}

#[utoipa::path(post, path = "/api/infer", tag = "004 Flask training backend", summary = "Classify 784 pixels with a succeeded run's model", request_body = InferBody, responses((status = 200, description = "run_id, label, probabilities", body = serde_json::Value), (status = 400, description = "Invalid pixels", body = serde_json::Value), (status = 404, description = "Unknown run", body = serde_json::Value), (status = 409, description = "The run has no model", body = serde_json::Value)))]
async fn infer(State(state): State<AppState>, JsonBody(body, ..): JsonBody<Flask, InferBody>) -> Result<Response> {
    let timeout = state.settings.infer_timeout;
    let run_id = body.run_id.clone();
    let (_, results) = state.call(move |r| r.predict(&body.run_id, json!([body.pixels]), timeout)).await?;
    let row = results.rows.into_iter().next().unwrap_or_default();
    // MNIST's classes are the digits: 004 answers with the digit as a number.
    let label = match &row["prediction"] {
        Value::String(s) => s.parse::<i64>().map_or_else(|_| json!(s), |n| json!(n)),
        other => other.clone(),
    };
    Ok(axum::Json(json!({"run_id": run_id, "label": label, "probabilities": row["probabilities"]})).into_response())
}
