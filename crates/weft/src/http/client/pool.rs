//! The pool: idle keep-alive connections per origin, the shared HTTP/2 connection of each
//! origin, and the optional cap on requests in flight per origin.
//!
//! Idle HTTP/1.1 connections of one origin (scheme, host, port) are a stack: the most recently
//! used one is taken first (it is the least likely to have been closed by the server), and
//! when more than `max_idle` wait, the oldest is closed. A connection idle for longer than
//! `idle_timeout` is closed by the pool's sweeper: a task that runs while idle connections
//! wait, sleeping until the oldest one's expiry (and a checkout that comes across one
//! closes it too). An HTTP/2 connection is shared, not taken: it stays in the pool while it
//! takes new streams, and closes itself after `idle_timeout` with no stream open.
//!
//! While a connection that may turn out HTTP/2 is being opened to an origin (prior
//! knowledge, or TLS whose ALPN is not known yet), other requests to it wait for that one
//! rather than open their own: if it is HTTP/2, they share it.

#![forbid(unsafe_code)]

use super::conn::Conn;
use crate::http::h2::client::Handle;
use crate::sync::{Event, Semaphore, SemaphoreGuardArc};
use crate::time::Instant;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// An origin: the connections of one key are interchangeable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) https: bool,
    /// The host, lowercase, without the brackets of an IPv6 address.
    pub(crate) host: String,
    pub(crate) port: u16,
}

pub(crate) struct Pool {
    state: Mutex<State>,
    max_idle: usize,
    idle_timeout: Option<Duration>,
    max_per_host: Option<usize>,
}

#[derive(Default)]
struct State {
    hosts: HashMap<Key, Host>,
    /// The sweeper task runs.
    sweeping: bool,
}

#[derive(Default)]
struct Host {
    /// Oldest first.
    idle: Vec<Idle>,
    /// The HTTP/2 connection requests share.
    h2: Option<Handle>,
    /// A connection that may be HTTP/2 is being opened: set when it is there (or failed).
    connecting: Option<Arc<Event>>,
    /// The last TLS connection to the origin chose HTTP/1.1: requests open their own
    /// connections without waiting for one another.
    h1_seen: bool,
    /// Permits for requests in flight, when the client caps them.
    limit: Option<Arc<Semaphore>>,
}

impl Host {
    fn is_empty(&self) -> bool {
        self.idle.is_empty()
            && self.h2.is_none()
            && self.connecting.is_none()
            && self.limit.is_none()
    }
}

/// What a request to an origin does next.
pub(crate) enum Reserve {
    /// Sends on this HTTP/2 connection.
    H2(Handle),
    /// Waits for the connection being opened, then asks again.
    Wait(Arc<Event>),
    /// Takes an idle connection or opens one; with a guard, it opens the one the others
    /// wait for.
    Connect(Option<ConnectGuard>),
}

/// Held by the request that opens a connection others wait for; dropped, it lets them go.
pub(crate) struct ConnectGuard {
    pool: Arc<Pool>,
    key: Key,
    event: Arc<Event>,
}

impl ConnectGuard {
    /// The connection is HTTP/2: the waiting requests share it.
    pub(crate) fn h2(self, handle: Handle) {
        self.pool.put_h2(&self.key, handle);
    }

    /// The connection is HTTP/1.1: the waiting requests open their own.
    pub(crate) fn h1(self) {
        let mut state = self.pool.lock();
        state.hosts.entry(self.key.clone()).or_default().h1_seen = true;
    }
}

impl Drop for ConnectGuard {
    fn drop(&mut self) {
        {
            let mut state = self.pool.lock();
            if let Some(host) = state.hosts.get_mut(&self.key) {
                host.connecting = None;
                if host.is_empty() && !host.h1_seen {
                    state.hosts.remove(&self.key);
                }
            }
        }
        self.event.set();
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

impl Pool {
    pub(crate) fn new(
        max_idle: usize,
        idle_timeout: Option<Duration>,
        max_per_host: Option<usize>,
    ) -> Self {
        Self {
            state: Mutex::new(State::default()),
            max_idle,
            idle_timeout,
            max_per_host,
        }
    }

    pub(crate) fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The map stays consistent through a panic (every change is one push or pop).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What a request to `key` does: share the origin's HTTP/2 connection, wait for one
    /// being opened, or go on its own. `may_h2`: a new connection may be HTTP/2, and one
    /// known to choose HTTP/1.1 is not enough to say otherwise (`prior`: it is HTTP/2).
    pub(crate) fn reserve(self: &Arc<Self>, key: &Key, may_h2: bool, prior: bool) -> Reserve {
        let mut state = self.lock();
        let host = state.hosts.entry(key.clone()).or_default();
        if let Some(h2) = &host.h2 {
            if h2.is_open() {
                return Reserve::H2(h2.clone());
            }
            host.h2 = None;
        }
        if let Some(event) = &host.connecting {
            return Reserve::Wait(event.clone());
        }
        let lead = may_h2 && (prior || (!host.h1_seen && host.idle.is_empty()));
        if !lead {
            if host.is_empty() && !host.h1_seen {
                state.hosts.remove(key);
            }
            return Reserve::Connect(None);
        }
        let event = Arc::new(Event::new());
        host.connecting = Some(event.clone());
        Reserve::Connect(Some(ConnectGuard {
            pool: self.clone(),
            key: key.clone(),
            event,
        }))
    }

    /// Waits for the right to send a request to `key` when the client caps requests in flight
    /// per host; the permit is held until the response's body is read or dropped.
    pub(crate) async fn permit(&self, key: &Key) -> Option<SemaphoreGuardArc> {
        let n = self.max_per_host?;
        let sem = {
            let mut state = self.lock();
            let host = state.hosts.entry(key.clone()).or_default();
            host.limit
                .get_or_insert_with(|| Arc::new(Semaphore::new(n)))
                .clone()
        };
        Some(sem.acquire_arc().await)
    }

    /// The most recently returned idle connection to `key` that has not outlived the idle
    /// timeout; the ones that have are closed, as are those that the server closed (or sent
    /// unasked-for bytes on) and those of an executor that shut down.
    pub(crate) fn checkout(&self, key: &Key) -> Option<Conn> {
        loop {
            let (idle, expired) = self.pop(key);
            // Closed, and checked (a syscall), outside the lock.
            drop(expired);
            let idle = idle?;
            if idle.conn.is_usable() {
                return Some(idle.conn);
            }
        }
    }

    /// The most recent idle connection to `key`, and the expired ones, taken out.
    fn pop(&self, key: &Key) -> (Option<Idle>, Vec<Idle>) {
        let now = Instant::now();
        let mut state = self.lock();
        let hosts = &mut state.hosts;
        let Some(host) = hosts.get_mut(key) else {
            return (None, Vec::new());
        };
        let expired: Vec<Idle> = match self.idle_timeout {
            Some(t) => {
                let fresh = host
                    .idle
                    .iter()
                    .position(|i| now.saturating_duration_since(i.since) < t)
                    .unwrap_or(host.idle.len());
                host.idle.drain(..fresh).collect()
            }
            None => Vec::new(),
        };
        let idle = host.idle.pop();
        if host.is_empty() && !host.h1_seen {
            hosts.remove(key);
        }
        (idle, expired)
    }

    /// Makes `handle` the HTTP/2 connection that requests to `key` share (unless one that
    /// is open already is).
    pub(crate) fn put_h2(&self, key: &Key, handle: Handle) {
        let old = {
            let mut state = self.lock();
            let host = state.hosts.entry(key.clone()).or_default();
            host.h1_seen = false;
            match &host.h2 {
                Some(h) if h.is_open() => None,
                _ => host.h2.replace(handle),
            }
        };
        drop(old);
    }

    /// Returns a connection whose last response was read to its end and that stays open.
    pub(crate) fn put(self: &Arc<Self>, key: Key, conn: Conn) {
        if self.max_idle == 0 {
            return;
        }
        let (evicted, start_sweeper) = {
            let mut state = self.lock();
            let host = state.hosts.entry(key).or_default();
            host.idle.push(Idle {
                conn,
                since: Instant::now(),
            });
            let evicted = if host.idle.len() > self.max_idle {
                Some(host.idle.remove(0))
            } else {
                None
            };
            let start = self.idle_timeout.is_some() && !state.sweeping;
            state.sweeping |= start;
            (evicted, start)
        };
        drop(evicted);
        if start_sweeper {
            let pool = Arc::downgrade(self);
            crate::spawn(sweeper(pool));
        }
    }

    /// Closes the idle connections past the idle timeout; the earliest expiry of those left,
    /// or `None` (and the sweeper stops) when none is left.
    fn sweep(&self) -> Option<Instant> {
        let timeout = self.idle_timeout?;
        let now = Instant::now();
        let mut expired = Vec::new();
        let next = {
            let mut state = self.lock();
            let mut next: Option<Instant> = None;
            state.hosts.retain(|_, host| {
                let fresh = host
                    .idle
                    .iter()
                    .position(|i| now.saturating_duration_since(i.since) < timeout)
                    .unwrap_or(host.idle.len());
                expired.extend(host.idle.drain(..fresh));
                if let Some(oldest) = host.idle.first() {
                    let at = oldest.since + timeout;
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
                if host.h2.as_ref().is_some_and(|h| !h.is_open()) {
                    host.h2 = None;
                }
                !host.is_empty() || host.h1_seen
            });
            if next.is_none() {
                state.sweeping = false;
            }
            next
        };
        // Closed outside the lock.
        drop(expired);
        next
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        let idle: usize = state.hosts.values().map(|h| h.idle.len()).sum();
        let h2 = state.hosts.values().filter(|h| h.h2.is_some()).count();
        f.debug_struct("Pool")
            .field("hosts", &state.hosts.len())
            .field("idle", &idle)
            .field("http2", &h2)
            .field("max_idle_per_host", &self.max_idle)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections_per_host", &self.max_per_host)
            .finish()
    }
}

/// The pool's sweeper: closes idle connections as they pass the idle timeout, while any
/// wait; it holds the pool weakly, so a dropped client stops it.
async fn sweeper(pool: Weak<Pool>) {
    // Stopped from outside (its executor shut down), it lets the next `put` start another.
    struct Running {
        pool: Weak<Pool>,
        armed: bool,
    }
    impl Drop for Running {
        fn drop(&mut self) {
            if let Some(pool) = self.pool.upgrade().filter(|_| self.armed) {
                pool.lock().sweeping = false;
            }
        }
    }
    let mut running = Running { pool, armed: true };
    loop {
        let next = match running.pool.upgrade() {
            Some(pool) => pool.sweep(),
            None => return,
        };
        let Some(at) = next else {
            // `sweep` cleared the flag under the lock; a `put` since may have set it again.
            running.armed = false;
            return;
        };
        crate::time::sleep_until(at).await;
    }
}
