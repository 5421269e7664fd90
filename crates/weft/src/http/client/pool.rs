//! The pool: idle keep-alive connections per origin, and the optional cap on requests in
//! flight per origin.
//!
//! Idle connections of one origin (scheme, host, port) are a stack: the most recently used
//! one is taken first (it is the least likely to have been closed by the server), and when
//! more than `max_idle` wait, the oldest is closed. A connection idle for longer than
//! `idle_timeout` is closed when a checkout comes across it.

#![forbid(unsafe_code)]

use super::conn::Conn;
use crate::sync::{Semaphore, SemaphoreGuardArc};
use crate::time::Instant;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
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
    hosts: Mutex<HashMap<Key, Host>>,
    max_idle: usize,
    idle_timeout: Option<Duration>,
    max_per_host: Option<usize>,
}

#[derive(Default)]
struct Host {
    /// Oldest first.
    idle: Vec<Idle>,
    /// Permits for requests in flight, when the client caps them.
    limit: Option<Arc<Semaphore>>,
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
            hosts: Mutex::new(HashMap::new()),
            max_idle,
            idle_timeout,
            max_per_host,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Host>> {
        // The map stays consistent through a panic (every change is one push or pop).
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the right to send a request to `key` when the client caps requests in flight
    /// per host; the permit is held until the response's body is read or dropped.
    pub(crate) async fn permit(&self, key: &Key) -> Option<SemaphoreGuardArc> {
        let n = self.max_per_host?;
        let sem = {
            let mut hosts = self.lock();
            let host = hosts.entry(key.clone()).or_default();
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
        let mut hosts = self.lock();
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
        if host.idle.is_empty() && host.limit.is_none() {
            hosts.remove(key);
        }
        (idle, expired)
    }

    /// Returns a connection whose last response was read to its end and that stays open.
    pub(crate) fn put(&self, key: Key, conn: Conn) {
        if self.max_idle == 0 {
            return;
        }
        let evicted = {
            let mut hosts = self.lock();
            let host = hosts.entry(key).or_default();
            host.idle.push(Idle {
                conn,
                since: Instant::now(),
            });
            if host.idle.len() > self.max_idle {
                Some(host.idle.remove(0))
            } else {
                None
            }
        };
        drop(evicted);
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts = self.lock();
        let idle: usize = hosts.values().map(|h| h.idle.len()).sum();
        f.debug_struct("Pool")
            .field("hosts", &hosts.len())
            .field("idle", &idle)
            .field("max_idle_per_host", &self.max_idle)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_connections_per_host", &self.max_per_host)
            .finish()
    }
}
