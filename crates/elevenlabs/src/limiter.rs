//! Keeps this process within the plan's concurrency (ElevenLabs queues a little, then answers
//! 429), and lets live-call work go before batch work when both wait.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A caller is on the line (cloning for a live call, the greeting).
    Live,
    /// Uploads, batch speech, reconciliation.
    Batch,
}

#[derive(Debug)]
struct State {
    limit: usize,
    in_flight: usize,
    live_waiting: usize,
}

#[derive(Debug, Clone)]
pub struct Limiter {
    inner: Arc<(Mutex<State>, Notify)>,
}

/// Holds one slot until dropped.
#[derive(Debug)]
pub struct Permit {
    limiter: Limiter,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut s = self.limiter.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        drop(s);
        self.limiter.inner.1.notify_waiters();
    }
}

impl Limiter {
    pub fn new(limit: usize) -> Self {
        Self {
            inner: Arc::new((
                Mutex::new(State { limit: limit.max(1), in_flight: 0, live_waiting: 0 }),
                Notify::new(),
            )),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the counts inconsistent mid-update.
        self.inner.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The plan's limit as the `maximum-concurrent-requests` header reports it.
    pub fn set_limit(&self, limit: usize) {
        let mut s = self.state();
        if s.limit != limit.max(1) {
            s.limit = limit.max(1);
            tracing::debug!(limit = s.limit, "ElevenLabs concurrency limit");
        }
        drop(s);
        self.inner.1.notify_waiters();
    }

    pub fn limit(&self) -> usize {
        self.state().limit
    }

    pub fn in_flight(&self) -> usize {
        self.state().in_flight
    }

    pub async fn acquire(&self, priority: Priority) -> Permit {
        let mut counted = false;
        loop {
            let notified = self.inner.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.state();
                let free = s.in_flight < s.limit;
                if free && (priority == Priority::Live || s.live_waiting == 0) {
                    s.in_flight += 1;
                    if counted {
                        s.live_waiting -= 1;
                    }
                    return Permit { limiter: self.clone() };
                }
                if priority == Priority::Live && !counted {
                    s.live_waiting += 1;
                    counted = true;
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn live_work_goes_before_waiting_batch_work() {
        let limiter = Limiter::new(1);
        let first = limiter.acquire(Priority::Batch).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let spawn = |p: Priority, name: &'static str, delay: u64| {
            let (l, o) = (limiter.clone(), order.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let _permit = l.acquire(p).await;
                o.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(5)).await;
            })
        };
        let batch = spawn(Priority::Batch, "batch", 0);
        let live = spawn(Priority::Live, "live", 20);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(limiter.in_flight(), 1);
        drop(first);
        batch.await.unwrap();
        live.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["live", "batch"]);
        assert_eq!(limiter.in_flight(), 0);
    }

    #[tokio::test]
    async fn never_more_in_flight_than_the_limit() {
        let limiter = Limiter::new(2);
        let peak = Arc::new(Mutex::new(0usize));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (l, peak) = (limiter.clone(), peak.clone());
                tokio::spawn(async move {
                    let _p = l.acquire(if i % 2 == 0 { Priority::Live } else { Priority::Batch }).await;
                    let now = l.in_flight();
                    {
                        let mut m = peak.lock().unwrap();
                        *m = (*m).max(now);
                    }
                    tokio::time::sleep(Duration::from_millis(3)).await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*peak.lock().unwrap(), 2);
        limiter.set_limit(5);
        assert_eq!(limiter.limit(), 5);
    }
}
