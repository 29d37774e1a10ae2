//! What a worker writes about the run it executes: its start, progress, metrics, log, device and end.
//! Nobody waits for these writes; engines batch them with other writes and may apply one again after a
//! lost connection, so each is data, applied by [`apply`] the same way on every engine.

use super::effects::Effects;
use super::records::{Attempt, EventRecord, FinishRecord};
use super::tx::{Notice, Tx};
use crate::domain::run::RunStatus;
use crate::error::Result;

#[derive(Debug, Clone)]
pub(crate) enum RunWrite {
    /// A queued run starts (engines whose workers claim runs start them in the claim instead).
    Started {
        attempt: Attempt,
        at: String,
        device: Option<String>,
        event: EventRecord,
    },
    /// The device the run actually uses.
    Device {
        attempt: Attempt,
        device: String,
    },
    Progress {
        attempt: Attempt,
        at: String,
        progress: u8,
        message: Option<String>,
        epoch: Option<u32>,
        loss: Option<f64>,
        event: EventRecord,
    },
    /// Values of one metric: `latest` (a JSON object) becomes its latest value, `events` its history.
    Metrics {
        attempt: Attempt,
        latest: String,
        events: Vec<EventRecord>,
    },
    Log {
        attempt: Attempt,
        event: EventRecord,
    },
    /// The run ended (or, with status `queued`, goes back to its queue), with the final metrics and
    /// artifacts (JSON objects) merged first.
    Finished {
        attempt: Attempt,
        maps: Option<(String, String)>,
        finish: FinishRecord,
        event: EventRecord,
    },
}

impl RunWrite {
    pub(crate) fn attempt(&self) -> &Attempt {
        match self {
            Self::Started { attempt, .. }
            | Self::Device { attempt, .. }
            | Self::Progress { attempt, .. }
            | Self::Metrics { attempt, .. }
            | Self::Log { attempt, .. }
            | Self::Finished { attempt, .. } => attempt,
        }
    }
}

/// Applies `write` in `tx`. What a stale attempt writes is dropped (its run is another attempt's now).
pub(crate) fn apply(tx: &dyn Tx, fx: &mut Effects, write: &RunWrite) -> Result<()> {
    let held = match write {
        RunWrite::Started { attempt, at, device, event } => push_if(tx, fx, tx.run_start(attempt, at, device.as_deref())?, event)?,
        RunWrite::Device { attempt, device } => tx.run_set_device(attempt, device)?,
        RunWrite::Progress { attempt, at, progress, message, epoch, loss, event } => {
            let held = tx.run_progress(attempt, at, *progress, message.as_deref(), *epoch, *loss)?;
            push_if(tx, fx, held, event)?
        }
        RunWrite::Metrics { attempt, latest, events } => {
            let held = tx.run_merge(Some(attempt), &attempt.run_id, latest, "{}")?;
            if held {
                events.iter().try_for_each(|e| tx.event_push(fx, e))?;
            }
            held
        }
        RunWrite::Log { attempt, event } => push_if(tx, fx, tx.run_held(attempt)?, event)?,
        RunWrite::Finished { attempt, maps, finish, event } => {
            if let Some((metrics, artifacts)) = maps {
                tx.run_merge(Some(attempt), &attempt.run_id, metrics, artifacts)?;
            }
            let held = push_if(tx, fx, tx.run_finish(attempt, finish)?, event)?;
            if held && finish.status == RunStatus::Queued {
                tx.notify(Notice::Queued);
            }
            held
        }
    };
    if !held {
        let attempt = write.attempt();
        tracing::warn!("attempt {} at run {} no longer holds it; its write is dropped", attempt.number, attempt.run_id);
    }
    Ok(())
}

fn push_if(tx: &dyn Tx, fx: &mut Effects, held: bool, event: &EventRecord) -> Result<bool> {
    if held {
        tx.event_push(fx, event)?;
    }
    Ok(held)
}
