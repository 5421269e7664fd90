//! Task dumps: the alive tasks of an executor, as [`Executor::dump`](crate::Executor::dump)
//! lists them.

#![forbid(unsafe_code)]

use super::shared::Shared;
use super::task;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What a task is doing when the dump is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting for a wake-up.
    Idle,
    /// Woken, queued to run.
    Scheduled,
    /// Being polled by a worker.
    Running,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Idle => "idle",
            TaskState::Scheduled => "scheduled",
            TaskState::Running => "running",
        })
    }
}

/// One alive task in a [`TaskDump`].
#[derive(Debug, Clone)]
pub struct TaskSnapshot {
    id: u64,
    name: Option<String>,
    location: &'static Location<'static>,
    state: TaskState,
    since_last_poll: Option<Duration>,
    polls: u64,
}

impl TaskSnapshot {
    /// The task's id, unique in the process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Its name, if it was given one ([`weft::task::Builder::name`](crate::task::Builder::name)).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where it was spawned.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// Idle, scheduled or running.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// How long ago its last poll started (`None` if it was never polled, or weft was built
    /// without its `metrics` feature). Measured against the clock reading its worker last made,
    /// which lags by at most 61 polls or one park, so it is a little longer than the truth.
    pub fn since_last_poll(&self) -> Option<Duration> {
        self.since_last_poll
    }

    /// Polls so far (0 without the `metrics` feature).
    pub fn polls(&self) -> u64 {
        self.polls
    }
}

impl fmt::Display for TaskSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(
            f,
            " at {}: {}, {} polls",
            self.location, self.state, self.polls
        )?;
        match self.since_last_poll {
            Some(d) => write!(f, ", last polled {:.1?} ago", d),
            None => f.write_str(", never polled"),
        }
    }
}

/// The alive tasks of an executor, from [`Executor::dump`](crate::Executor::dump) or
/// [`weft::runtime::dump`](crate::runtime::dump). Its `Display` prints one line per task.
///
/// The dump reads each task's state as it passes it, one registry shard at a time: a snapshot
/// of a running executor, not one instant.
///
/// # Examples
///
/// ```
/// let executor = weft::Executor::new(1);
/// let _waiting = weft::task::Builder::new()
///     .name("waiter")
///     .spawn_on(std::future::pending::<()>(), &executor);
/// let dump = executor.dump();
/// assert!(dump.tasks().iter().any(|t| t.name() == Some("waiter")));
/// println!("{dump}");
/// ```
#[derive(Debug, Clone, Default)]
pub struct TaskDump {
    tasks: Vec<TaskSnapshot>,
}

impl TaskDump {
    pub(crate) fn collect(shared: &Shared) -> Self {
        let now = shared.clock.real();
        // The tasks the workers are polling now.
        let running: Vec<u64> = shared
            .lifos
            .iter()
            .map(|l| l.running.load(Ordering::Relaxed))
            .filter(|&w| w != 0)
            .collect();
        let mut tasks = Vec::new();
        shared.registry.for_each(|meta| {
            let info = &meta.info;
            let state = if running.contains(&meta.slot_word()) {
                TaskState::Running
            } else if info.state() == task::SCHEDULED {
                TaskState::Scheduled
            } else {
                TaskState::Idle
            };
            tasks.push(TaskSnapshot {
                id: info.id(),
                name: info.name().map(str::to_owned),
                location: info.location(),
                state,
                since_last_poll: info.since_last_poll(now),
                polls: info.polls(),
            });
        });
        tasks.sort_by_key(|t| t.id);
        Self { tasks }
    }

    /// The tasks, by id.
    pub fn tasks(&self) -> &[TaskSnapshot] {
        &self.tasks
    }

    /// The number of tasks listed.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True if no task was alive.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

impl fmt::Display for TaskDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.tasks.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// The global runtime's alive tasks (it starts if it has not yet).
pub fn dump() -> TaskDump {
    super::global().dump()
}
