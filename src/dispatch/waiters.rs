//! Request/reply: publishers waiting (`Prefer: wait=N`) for an event's deliveries to end.
//! Deliveries that end ring the event's bell; a waiter re-reads the event from the store,
//! so the bell carries no data and a missed ring costs at most a re-check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Default)]
pub struct EventWaiters {
    bells: Mutex<HashMap<String, (Arc<Notify>, usize)>>,
    /// Lets `ring` skip the lock entirely when nobody waits (the common case).
    waiting: AtomicUsize,
}

/// A registration; dropping it unregisters.
pub struct Waiter<'a> {
    waiters: &'a EventWaiters,
    event_id: String,
    pub bell: Arc<Notify>,
}

impl EventWaiters {
    pub fn wait_for(&self, event_id: &str) -> Waiter<'_> {
        let mut bells = self.bells.lock().unwrap_or_else(|p| p.into_inner());
        let entry = bells
            .entry(event_id.to_owned())
            .or_insert_with(|| (Arc::new(Notify::new()), 0));
        entry.1 += 1;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Waiter {
            waiters: self,
            event_id: event_id.to_owned(),
            bell: entry.0.clone(),
        }
    }

    /// One of the event's deliveries reached a terminal state.
    pub fn ring(&self, event_id: &str) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        let bells = self.bells.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((bell, _)) = bells.get(event_id) {
            bell.notify_waiters();
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut bells = self.waiters.bells.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = bells.get_mut(&self.event_id) {
            entry.1 -= 1;
            if entry.1 == 0 {
                bells.remove(&self.event_id);
            }
        }
        self.waiters.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}
