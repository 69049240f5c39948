//! Start order among identical requests, kept while they run concurrently.
//!
//! The guest may start several requests before waiting on any (the hook is
//! called, in the guest's order, by `outgoing-handler.handle`); their futures
//! then run on a multi-threaded runtime, so the order in which they reach a
//! shared table (replay's matcher) is a race. A [`Turn`] is taken when a
//! request starts and makes requests with the same key take that table in
//! start order, while requests with other keys never wait for each other.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// One queue per key: turns handed out, the turn being served, and later
/// turns that finished early (a request dropped or failed before its turn).
struct Line {
    issued: u64,
    next: u64,
    done_early: BTreeSet<u64>,
}

/// The queues of every key with a request in flight.
pub struct Turns<K> {
    lines: Mutex<HashMap<K, Line>>,
    changed: Notify,
}

impl<K: Eq + Hash + Clone> Turns<K> {
    pub fn new() -> Arc<Turns<K>> {
        Arc::new(Turns { lines: Mutex::new(HashMap::new()), changed: Notify::new() })
    }

    /// The next turn for `key`: call when the request starts, before any await.
    pub fn take(self: &Arc<Self>, key: K) -> Turn<K> {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let line = lines.entry(key.clone()).or_insert(Line { issued: 0, next: 0, done_early: BTreeSet::new() });
        let number = line.issued;
        line.issued += 1;
        Turn { turns: self.clone(), key, number }
    }

    fn is_current(&self, key: &K, number: u64) -> bool {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.get(key).is_some_and(|l| l.next == number)
    }

    fn finish(&self, key: &K, number: u64) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let Some(line) = lines.get_mut(key) else { return };
        line.done_early.insert(number);
        while line.done_early.remove(&line.next) {
            line.next += 1;
        }
        if line.next == line.issued {
            lines.remove(key);
        }
        drop(lines);
        self.changed.notify_waiters();
    }
}

/// A request's place among the requests with its key; dropping it (when the
/// request was served, failed, or was abandoned by the guest) lets the next
/// one go.
pub struct Turn<K: Eq + Hash + Clone> {
    turns: Arc<Turns<K>>,
    key: K,
    number: u64,
}

impl<K: Eq + Hash + Clone> Turn<K> {
    /// Waits until every earlier request with this key has finished its turn.
    pub async fn wait(&self) {
        loop {
            let changed = self.turns.changed.notified();
            tokio::pin!(changed);
            // Registered before the check, so a finish in between is not missed.
            changed.as_mut().enable();
            if self.turns.is_current(&self.key, self.number) {
                return;
            }
            changed.await;
        }
    }
}

impl<K: Eq + Hash + Clone> Drop for Turn<K> {
    fn drop(&mut self) {
        self.turns.finish(&self.key, self.number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap()
    }

    #[test]
    fn same_key_goes_in_start_order_whatever_the_arrival_order() {
        let turns = Turns::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        let rt = runtime();
        let tasks: Vec<_> = (0..5u64)
            .map(|i| {
                let turn = turns.take("GET /a");
                let order = order.clone();
                // The later a request started, the sooner it arrives.
                rt.spawn(async move {
                    tokio::time::sleep(Duration::from_millis(10 * (5 - i))).await;
                    turn.wait().await;
                    order.lock().unwrap().push(i);
                })
            })
            .collect();
        rt.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
        assert!(turns.lines.lock().unwrap().is_empty(), "finished lines are removed");
    }

    #[test]
    fn other_keys_and_abandoned_turns_do_not_block() {
        let turns = Turns::new();
        let first = turns.take("GET /a");
        let second = turns.take("GET /a");
        let other = turns.take("GET /b");
        let rt = runtime();
        // A safety net so a regression fails instead of hanging the test run.
        let served = |turn: &Turn<&str>| rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), turn.wait()).await.is_ok() });
        // Another key is served while /a's first request is still pending.
        assert!(served(&other));
        // The first request is abandoned (the guest dropped it): the second goes.
        drop(first);
        assert!(served(&second));
    }
}
