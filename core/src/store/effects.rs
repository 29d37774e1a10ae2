//! What a write asks to happen once its transaction commits: events to publish, hooks to run and
//! callers to answer.

use crate::events::Event;

pub(crate) type Reply = Box<dyn FnOnce(Option<&str>) + Send>;
pub(crate) type Hook = Box<dyn FnOnce() + Send>;

/// The effects of one or more jobs of a transaction, carried out when it completes (committed and,
/// where asked, durable).
#[derive(Default)]
pub(crate) struct Effects {
    pub(crate) events: Vec<Event>,
    pub(crate) hooks: Vec<Hook>,
    /// Answers to waiting callers; called with the failure message when the transaction failed.
    pub(crate) replies: Vec<Reply>,
}

impl std::fmt::Debug for Effects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Effects").field("events", &self.events.len()).field("hooks", &self.hooks.len()).finish()
    }
}

impl Effects {
    /// Publishes `event` after commit (engines whose events reach subscribers another way never call
    /// this).
    pub(crate) fn publish(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Runs `hook` after commit (before events are published and callers answered).
    pub(crate) fn after_commit(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.hooks.push(Box::new(hook));
    }

    /// Answers a caller after commit, or with the failure when the transaction fails.
    pub(crate) fn reply(&mut self, reply: impl FnOnce(Option<&str>) + Send + 'static) {
        self.replies.push(Box::new(reply));
    }

    pub(crate) fn absorb(&mut self, other: Effects) {
        self.events.extend(other.events);
        self.hooks.extend(other.hooks);
        self.replies.extend(other.replies);
    }

    /// Answers every caller with `failure` (the effects that need the commit do not happen).
    pub(crate) fn fail(self, failure: &str) {
        for reply in self.replies {
            reply(Some(failure));
        }
    }

    /// Runs the hooks, publishes the events and answers the callers.
    pub(crate) fn complete(self, bus: &crate::events::EventBus) {
        for hook in self.hooks {
            hook();
        }
        bus.publish(self.events);
        for reply in self.replies {
            reply(None);
        }
    }
}
