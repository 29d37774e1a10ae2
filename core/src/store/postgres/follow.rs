//! What reaches a process from the others: a connection that `LISTEN`s on the engine's channels (the
//! events' one only while the process has subscribers) and raises the process's signals for each
//! `NOTIFY` (a lost connection is re-established, and every
//! signal raised then, since notifications sent meanwhile are gone), and the follower that reads the
//! events every process commits, in order, and publishes them to this process's subscribers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use postgres::fallible_iterator::FallibleIterator;

use super::conn::{Location, PgConn, Pool};
use super::runs;
use super::tx::{CHANNEL, EVENTS_CHANNEL, Notices};
use crate::error::Result;
use crate::events::EventBus;

/// Something happened that a thread waits for; raising twice before it looks is one wake-up.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    raised: Mutex<bool>,
    changed: Condvar,
}

impl Signal {
    pub(crate) fn raise(&self) {
        *self.raised.lock() = true;
        self.changed.notify_all();
    }

    /// Waits until raised (true, and lowers it) or `timeout` passes (false).
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut raised = self.raised.lock();
        while !*raised {
            if self.changed.wait_until(&mut raised, deadline).timed_out() {
                return std::mem::take(&mut *raised);
            }
        }
        *raised = false;
        true
    }
}

/// The process's signals, one per kind of notice.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    /// New events were committed (by any process).
    pub(crate) events: Signal,
    /// Runs were queued.
    pub(crate) queued: Signal,
    /// A running run was asked to stop.
    pub(crate) cancel: Signal,
    /// The stored configuration changed.
    pub(crate) config: Signal,
    /// The engine is stopping: threads leave their loops.
    pub(crate) stopping: AtomicBool,
}

impl Signals {
    pub(crate) fn raise(&self, n: Notices) {
        for (on, signal) in [(n.events, &self.events), (n.queued, &self.queued), (n.cancel, &self.cancel), (n.config, &self.config)] {
            if on {
                signal.raise();
            }
        }
    }

    /// What this process committed itself, at once (its own `NOTIFY` comes back later).
    pub(crate) fn raise_local(&self, n: Notices) {
        self.raise(n);
    }

    fn raise_all(&self) {
        self.raise(Notices { events: true, queued: true, cancel: true, config: true });
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Wakes every waiting thread for the engine to stop.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.raise_all();
    }
}

/// How long the listener blocks at a time before it looks at `stopping` and at whether this process
/// has subscribers (live events of other processes reach a new subscriber within this, after its
/// history).
const LISTEN_TICK: Duration = Duration::from_millis(50);

/// Listens until the engine stops, reconnecting as needed: to [`CHANNEL`] always, to
/// [`EVENTS_CHANNEL`] while anyone in this process subscribes to events.
pub(crate) fn listen(location: &Location, signals: &Signals, bus: &EventBus) {
    let mut backoff = Duration::from_millis(50);
    while !signals.stopping() {
        let mut conn = match PgConn::connect(location).and_then(|mut c| c.batch(&format!("LISTEN {CHANNEL}")).map(|()| c)) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("cannot listen for other processes' notices yet: {e}");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        // Notices sent while this process was not listening are gone: look at everything.
        signals.raise_all();
        let mut following = false;
        while !signals.stopping() {
            let mut notices = Notices::default();
            let mut lost = false;
            if bus.has_subscribers() != following {
                following = !following;
                let sql = if following { format!("LISTEN {EVENTS_CHANNEL}") } else { format!("UNLISTEN {EVENTS_CHANNEL}") };
                if let Err(e) = conn.batch(&sql) {
                    tracing::warn!("the notice connection was lost: {e}");
                    break;
                }
                // Events committed before this listened are read from the store.
                notices.events = following;
            }
            {
                // The first notice wakes this at once; those that came with it are raised with it.
                let mut pending = conn.client().notifications();
                let first = pending.timeout_iter(LISTEN_TICK).next();
                let rest = match first {
                    Ok(Some(n)) => {
                        notices.merge(Notices::parse(n.channel(), n.payload()));
                        pending.iter().for_each(|n| {
                            notices.merge(Notices::parse(n.channel(), n.payload()));
                            Ok(())
                        })
                    }
                    other => other.map(drop),
                };
                if let Err(e) = rest {
                    tracing::warn!("the notice connection was lost: {e}");
                    lost = true;
                }
            }
            signals.raise(notices);
            if lost || conn.client().is_closed() {
                break;
            }
        }
    }
}

/// How often the follower looks for events without a notice (a notice lost with a connection).
const FOLLOW_POLL: Duration = Duration::from_secs(1);
/// Events read per query.
const FOLLOW_BATCH: u32 = 1000;

/// Publishes to `bus`, in order, every event committed after `cursor`, while anyone subscribes.
pub(crate) fn follow(pool: &Pool, bus: &EventBus, signals: &Signals, mut cursor: u64) {
    let mut skipped = Instant::now();
    while !signals.stopping() {
        signals.events.wait(FOLLOW_POLL);
        if signals.stopping() {
            break;
        }
        if let Err(e) = follow_once(pool, bus, &mut cursor, &mut skipped) {
            tracing::warn!("cannot read new events yet: {e}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// How often a follower nobody listens to moves its cursor to the newest event.
const SKIP_EVERY: Duration = Duration::from_secs(1);

fn follow_once(pool: &Pool, bus: &EventBus, cursor: &mut u64, skipped: &mut Instant) -> Result<()> {
    if !bus.has_subscribers() {
        // Nobody listens: now and then, move on to the newest event (a cursor behind is only slower: a
        // subscriber skips what its history had). A subscriber registering after the second check reads
        // its history after this read, so it has every event up to here.
        if skipped.elapsed() >= SKIP_EVERY {
            let last = pool.with(runs::last_event_id)?;
            *skipped = Instant::now();
            if !bus.has_subscribers() {
                *cursor = last;
            }
        }
        if !bus.has_subscribers() {
            return Ok(());
        }
    }
    loop {
        let after = *cursor;
        let events = pool.with(|c| runs::events_after(c, after, FOLLOW_BATCH))?;
        let Some(last) = events.last() else {
            // A server that lost its newest commits in a crash numbers events from lower again.
            let newest = pool.with(runs::last_event_id)?;
            *cursor = (*cursor).min(newest);
            return Ok(());
        };
        *cursor = last.id;
        let full = events.len() as u32 == FOLLOW_BATCH;
        bus.publish(events);
        if !full {
            return Ok(());
        }
    }
}

/// Starts a named thread running `f`.
pub(crate) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| crate::error::Error::Internal(format!("cannot start the {name} thread: {e}")))
}
