//! Task allocation: one `async-task` allocation per task, holding the header, the metadata
//! below, the schedule function and the future (then its output).
//!
//! The metadata lives inside the task allocation and outlives the future, so the future wrapper
//! borrows it (that is what `Builder::spawn_unchecked` permits for metadata, and the only
//! reason this file needs `unsafe`). The wrapper catches the task's panics, turning them into
//! the task's output, and unregisters the task from its executor when it completes or is dropped.

use super::executors;
use super::registry::{Outcome, Slot};
use super::shared::Shared;
use async_task::{Builder, ScheduleInfo, WithInfo};
use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// A panic payload.
pub(crate) type Panic = Box<dyn Any + Send + 'static>;

/// What a task's future produces: its value, or the panic that ended it.
pub(crate) type Output<T> = Result<T, Panic>;

/// A task ready to be polled.
pub(crate) type Runnable = async_task::Runnable<TaskMeta>;

/// The awaiting side of a task.
pub(crate) type Task<T> = async_task::Task<Output<T>, TaskMeta>;

/// Per-task data stored in the task allocation.
#[derive(Debug)]
pub(crate) struct TaskMeta {
    /// The task's registry slot and its abort flag, packed in one word to keep tasks small:
    /// bit 63 is set by `JoinHandle::abort` (a worker drops an aborted task instead of
    /// polling it), bit 62 says the task is registered (blocking-pool tasks are not), bits
    /// 32..62 hold the registry shard and bits 0..32 the key.
    word: AtomicU64,
    /// Who the task is and how it has run, for task dumps and stall reports.
    pub(crate) info: TaskInfo,
}

/// A task's identity (id, spawn site, name) and what it has done so far, in three words.
#[derive(Debug)]
pub(crate) struct TaskInfo {
    /// The id in bits 0..48; in bits 48..64, the number of the executor the task belongs to
    /// (see `executors`), whose `Arc<Shared>` strong count the task's metadata holds.
    ident: u64,
    origin: Origin,
    /// Bit 0: the state (`IDLE` or `SCHEDULED`); bits 1..32: polls started (saturating);
    /// bits 32..64: when the last poll started, in units of 2^20 ns (about a millisecond) of
    /// the worker's real clock reading, wrapping (meaningless while polls are 0). The last two
    /// only with the `metrics` feature. Only the holder of the task's runnable writes this word (the
    /// schedule function, and the worker as a poll starts), so a plain load and store do.
    stats: AtomicU64,
}

/// Whether a task is queued, as a dump shows it.
pub(crate) const IDLE: u8 = 0;
pub(crate) const SCHEDULED: u8 = 1;

const STATE_BITS: u64 = 1;
const POLLS_SHIFT: u32 = 1;
const POLLS_MAX: u64 = (1 << 31) - 1;
#[cfg(feature = "metrics")]
const LAST_POLL_SHIFT: u32 = 32;
/// Last-poll times are kept in units of 2^20 ns.
#[cfg(feature = "metrics")]
const TIME_UNIT_SHIFT: u32 = 20;

const EXECUTOR_SHIFT: u32 = 48;
const ID_MASK: u64 = (1 << EXECUTOR_SHIFT) - 1;

/// Task ids are taken in blocks by each thread, so spawning does not share a counter.
const ID_BLOCK: u64 = 1024;
static NEXT_ID_BLOCK: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The next id this thread hands out, and the end of its block.
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

fn next_id() -> u64 {
    IDS.with(|c| {
        let (mut next, mut end) = c.get();
        if next == end {
            next = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
            end = next + ID_BLOCK;
        }
        c.set((next + 1, end));
        next
    })
}

impl TaskInfo {
    #[inline]
    pub(crate) fn new(name: Option<Box<str>>, location: &'static Location<'static>) -> Self {
        let id = next_id();
        #[cfg(feature = "tracing")]
        let span = tracing::trace_span!(
            target: "weft::task",
            "task",
            id,
            name = name.as_deref().unwrap_or(""),
            location = %location
        );
        #[cfg(feature = "tracing")]
        tracing::trace!(target: "weft::task", parent: &span, "spawn");
        Self {
            ident: id & ID_MASK,
            origin: Origin::new(
                location,
                name,
                #[cfg(feature = "tracing")]
                span,
            ),
            stats: AtomicU64::new(u64::from(IDLE)),
        }
    }

    /// The task's id: unique in the process (for its first 2^48 spawns).
    pub(crate) fn id(&self) -> u64 {
        self.ident & ID_MASK
    }

    fn executor(&self) -> u16 {
        (self.ident >> EXECUTOR_SHIFT) as u16
    }

    /// Where the task was spawned.
    pub(crate) fn location(&self) -> &'static Location<'static> {
        self.origin.location()
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.origin.extra()?.name.as_deref()
    }

    /// The task's span, unless no subscriber wanted it.
    #[cfg(feature = "tracing")]
    fn span(&self) -> Option<&tracing::Span> {
        self.origin.extra().map(|e| &e.span)
    }

    /// `SCHEDULED` once woken, `IDLE` once a poll starts.
    pub(crate) fn state(&self) -> u8 {
        (self.stats.load(Ordering::Relaxed) & STATE_BITS) as u8
    }

    /// Plain load and store by the schedule function (see [`TaskInfo::stats`]).
    #[inline]
    fn set_state(&self, state: u8) {
        let stats = self.stats.load(Ordering::Relaxed);
        self.stats
            .store(stats & !STATE_BITS | u64::from(state), Ordering::Relaxed);
    }

    /// Polls started so far, up to 2^31 - 1 (0 without the `metrics` feature).
    pub(crate) fn polls(&self) -> u64 {
        (self.stats.load(Ordering::Relaxed) >> POLLS_SHIFT) & POLLS_MAX
    }

    /// How long before real time `now` (ns) the last poll started, to about a millisecond, if
    /// the task was ever polled (and the `metrics` feature keeps it). Wraps after 2^52 ns
    /// (52 days) without a poll.
    pub(crate) fn since_last_poll(&self, now: u64) -> Option<std::time::Duration> {
        #[cfg(feature = "metrics")]
        {
            let stats = self.stats.load(Ordering::Relaxed);
            let last = (stats >> LAST_POLL_SHIFT) as u32;
            ((stats >> POLLS_SHIFT) & POLLS_MAX != 0).then(|| {
                let units = ((now >> TIME_UNIT_SHIFT) as u32).wrapping_sub(last);
                std::time::Duration::from_nanos(u64::from(units) << TIME_UNIT_SHIFT)
            })
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = now;
            None
        }
    }

    /// A poll starts at (about) real time `now`. The task is no longer queued: it is idle
    /// unless woken again (whether it is running, the worker polling it says: see
    /// `WorkerLifo::running`).
    #[inline(always)]
    fn poll_started(&self, now: u64) {
        #[cfg(feature = "metrics")]
        {
            // The low half holds the state and the polls, the high half the time.
            let polls = self.stats.load(Ordering::Relaxed) as u32 >> POLLS_SHIFT;
            let polls = polls + u32::from(polls != POLLS_MAX as u32);
            let stats = (now >> TIME_UNIT_SHIFT) << LAST_POLL_SHIFT
                | u64::from(polls << POLLS_SHIFT)
                | u64::from(IDLE);
            self.stats.store(stats, Ordering::Relaxed);
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = now;
            self.stats.store(u64::from(IDLE), Ordering::Relaxed);
        }
    }
}

/// Where a task was spawned, plus its rare data, in one word: a `&'static Location`, or (bit 0
/// set) an owned `Box<Extra>` for a task with a name or a span some subscriber wants. An
/// unnamed task pays nothing beyond the word; a named one pays one more allocation.
struct Origin(NonNull<()>);

/// What few tasks have.
struct Extra {
    location: &'static Location<'static>,
    name: Option<Box<str>>,
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

const EXTRA_TAG: usize = 1;

// Bit 0 of both pointers is free to tag.
const _: () = assert!(std::mem::align_of::<Location<'static>>() > EXTRA_TAG);
const _: () = assert!(std::mem::align_of::<Extra>() > EXTRA_TAG);

// SAFETY: `Origin` is either a `&'static Location` (`Send + Sync`) or owns a `Box<Extra>`
// (`Extra` is `Send + Sync`, checked below) and hands out only shared references to it.
unsafe impl Send for Origin {}
// SAFETY: as above.
unsafe impl Sync for Origin {}

const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Extra>();
};

impl Origin {
    #[inline]
    fn new(
        location: &'static Location<'static>,
        name: Option<Box<str>>,
        #[cfg(feature = "tracing")] span: tracing::Span,
    ) -> Self {
        #[cfg(feature = "tracing")]
        let rare = name.is_some() || !span.is_disabled();
        #[cfg(not(feature = "tracing"))]
        let rare = name.is_some();
        if !rare {
            return Self(NonNull::from(location).cast());
        }
        let extra = Box::new(Extra {
            location,
            name,
            #[cfg(feature = "tracing")]
            span,
        });
        Self(
            NonNull::from(Box::leak(extra))
                .cast()
                .map_addr(|a| a | EXTRA_TAG),
        )
    }

    fn extra(&self) -> Option<&Extra> {
        if self.0.addr().get() & EXTRA_TAG == 0 {
            return None;
        }
        let extra = self.0.as_ptr().map_addr(|a| a & !EXTRA_TAG).cast::<Extra>();
        // SAFETY: with the tag set, the untagged pointer came from `Box::leak` in `new` (with
        // its provenance), and the box is freed only by `drop`, which needs `&mut self`.
        Some(unsafe { &*extra })
    }

    fn location(&self) -> &'static Location<'static> {
        match self.extra() {
            Some(extra) => extra.location,
            // SAFETY: untagged, the pointer is the `&'static Location` given to `new`.
            None => unsafe { self.0.cast::<Location<'static>>().as_ref() },
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if self.extra().is_some() {
            let extra = self.0.as_ptr().map_addr(|a| a & !EXTRA_TAG).cast::<Extra>();
            // SAFETY: see `extra`; this is the only place that frees the box, once.
            drop(unsafe { Box::from_raw(extra) });
        }
    }
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin")
            .field("location", &self.location())
            .field("name", &self.extra().and_then(|e| e.name.as_deref()))
            .finish()
    }
}

const ABORTED: u64 = 1 << 63;
const REGISTERED: u64 = 1 << 62;

/// The registry slot a [`TaskMeta::slot_word`] names.
pub(crate) fn slot_of(w: u64) -> Option<Slot> {
    (w & REGISTERED != 0).then_some(Slot {
        shard: ((w >> 32) & 0x3FFF_FFFF) as u32,
        key: w as u32,
    })
}

impl TaskMeta {
    #[inline]
    pub(crate) fn new(shared: Arc<Shared>, slot: Option<Slot>, mut info: TaskInfo) -> Self {
        let word = slot.map_or(0, |s| {
            REGISTERED | (u64::from(s.shard & 0x3FFF_FFFF) << 32) | u64::from(s.key)
        });
        info.ident |= u64::from(shared.number.get()) << EXECUTOR_SHIFT;
        // The strong count moves into the metadata; `Drop` gives it back.
        let _ = Arc::into_raw(shared);
        Self {
            word: AtomicU64::new(word),
            info,
        }
    }

    /// The executor the task belongs to.
    #[inline]
    pub(crate) fn shared(&self) -> &Shared {
        // SAFETY: the metadata holds a strong count of its executor's `Arc<Shared>` (taken in
        // `new`, given back in `drop`), so that executor is alive and its number maps to it
        // (`ExecutorNumber::publish` ran before any of its tasks was made, and the number is
        // given back only when the `Shared` is dropped); the reference lives no longer than
        // `self`.
        unsafe { &*executors::lookup(self.info.executor()) }
    }

    /// A new `Arc` of the executor the task belongs to.
    pub(crate) fn shared_arc(&self) -> Arc<Shared> {
        let shared: *const Shared = self.shared();
        // SAFETY: `shared` came from `Arc::as_ptr` of a live `Arc<Shared>` (see `shared`), of
        // which this metadata holds a strong count; the new `Arc` owns the count added here.
        unsafe {
            Arc::increment_strong_count(shared);
            Arc::from_raw(shared)
        }
    }

    /// The task's registry slot as one nonzero word (0 for tasks that are not registered), for
    /// a worker to publish which task it is polling.
    pub(crate) fn slot_word(&self) -> u64 {
        self.word.load(Ordering::Relaxed) & !ABORTED
    }

    /// The task's registry entry; `None` for blocking-pool tasks.
    fn slot(&self) -> Option<Slot> {
        slot_of(self.word.load(Ordering::Relaxed))
    }

    fn is_aborted(&self) -> bool {
        self.word.load(Ordering::Acquire) & ABORTED != 0
    }

    /// True for tasks on the blocking pool (and for tasks refused at shutdown, which are
    /// never scheduled).
    pub(crate) fn is_blocking(&self) -> bool {
        self.slot().is_none()
    }

    /// True if the task is in its executor's registry.
    pub(crate) fn is_registered(&self) -> bool {
        self.slot().is_some()
    }

    /// Marks the task aborted and wakes it so a worker gets to drop it.
    pub(crate) fn abort(&self) {
        self.word.fetch_or(ABORTED, Ordering::Release);
        if let Some(slot) = self.slot() {
            self.shared().registry.wake(slot);
        }
    }
}

impl Drop for TaskMeta {
    fn drop(&mut self) {
        let shared: *const Shared = self.shared();
        // SAFETY: this gives back the strong count `new` moved into the metadata, once.
        unsafe { Arc::decrement_strong_count(shared) };
    }
}

fn schedule(runnable: Runnable, info: ScheduleInfo) {
    let task = &runnable.metadata().info;
    task.set_state(SCHEDULED);
    #[cfg(feature = "tracing")]
    if let Some(span) = task.span() {
        tracing::trace!(target: "weft::task", parent: span, "wake");
    }
    let shared: *const Shared = runnable.metadata().shared();
    // SAFETY: `shared` points into the `Arc<Shared>` the task's metadata holds. `schedule`
    // runs while the caller holds a waker or the runnable, both of which keep the task (and so
    // the metadata and its `Arc`) alive for the duration of this call; `Shared::schedule`
    // clones the `Arc` before any step after which the task could be freed elsewhere.
    unsafe { (*shared).schedule(runnable, info.woken_while_running) }
}

/// Creates a task for `future` with `meta`. The caller schedules the returned runnable.
pub(crate) fn spawn<F>(meta: TaskMeta, future: F) -> (Runnable, Task<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn build<F>(future: F) -> impl FnOnce(&TaskMeta) -> TaskFuture<'_, F> {
        move |meta| TaskFuture {
            future: ManuallyDrop::new(future),
            guard: Unregister(Some(meta)),
        }
    }
    // SAFETY: `TaskFuture` is `Send` (it holds `F: Send` and a `&TaskMeta`, which is `Sync`);
    // the only borrow it holds is of the task's own metadata, which async-task permits because
    // the metadata outlives the future inside the allocation; the schedule function is a plain
    // `fn` (`Send + Sync + 'static`).
    unsafe {
        Builder::new()
            .metadata(meta)
            .spawn_unchecked(build(future), WithInfo(schedule))
    }
}

/// Runs one task: polls it, unless it was aborted, in which case it is dropped (cancelled).
pub(crate) fn run(runnable: Runnable) {
    run_at(runnable, 0);
}

/// [`run`], on a worker whose real clock last read `now` (ns): the poll's time, for dumps.
#[inline(always)]
pub(crate) fn run_at(runnable: Runnable, now: u64) {
    if runnable.metadata().is_aborted() {
        drop(runnable);
        return;
    }
    runnable.metadata().info.poll_started(now);
    // The future's own panics are caught inside `TaskFuture`; this catches the rest (a panic
    // in a destructor or a waker) so a worker thread never dies.
    let _ = catch_unwind(AssertUnwindSafe(|| runnable.run()));
}

/// Unregisters the task when dropped (cancelled), or earlier, at completion.
struct Unregister<'a>(Option<&'a TaskMeta>);

impl Unregister<'_> {
    fn release(&mut self, outcome: Outcome) {
        if let Some(slot) = self
            .0
            .take()
            .and_then(|meta| meta.slot().map(|s| (meta, s)))
        {
            slot.0.shared().registry.remove(slot.1, outcome);
        }
    }
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.release(Outcome::Cancelled);
    }
}

/// A registered task as the registry keeps it: a waker of the task, which keeps the task
/// allocation (and so the metadata in its header) alive. The metadata is found from the
/// waker's data pointer, at an offset that is the same for every task (the header has one
/// type) and is checked each time a `TaskRef` is made, so an entry costs two words.
pub(crate) struct TaskRef(Waker);

/// The metadata's address minus its task's waker data pointer; `usize::MAX` until the first
/// task is registered.
static META_OFFSET: AtomicUsize = AtomicUsize::new(usize::MAX);

impl std::fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRef")
            .field("id", &self.meta().info.id())
            .finish()
    }
}

impl TaskRef {
    #[inline]
    pub(crate) fn new(runnable: &Runnable) -> Self {
        let waker = runnable.waker();
        let meta: *const TaskMeta = runnable.metadata();
        let offset = (meta as usize).wrapping_sub(waker.data() as usize);
        if META_OFFSET.load(Ordering::Relaxed) != offset {
            Self::first_offset(offset);
        }
        Self(waker)
    }

    #[cold]
    fn first_offset(offset: usize) {
        if let Err(known) =
            META_OFFSET.compare_exchange(usize::MAX, offset, Ordering::Relaxed, Ordering::Relaxed)
        {
            // Never on input: the task header's layout is fixed when weft is built.
            assert_eq!(known, offset, "task metadata moved within the task header");
        }
    }

    pub(crate) fn meta(&self) -> &TaskMeta {
        let offset = META_OFFSET.load(Ordering::Relaxed);
        let meta = self.0.data().wrapping_byte_add(offset).cast::<TaskMeta>();
        // SAFETY: `new` checked that this task's metadata sits at `offset` from its waker's
        // data pointer (the offset is set once, before the first `TaskRef` exists, and never
        // changes: `new` panics rather than make a `TaskRef` at another offset), and the
        // pointer keeps the provenance of the task allocation. The metadata lives in the
        // allocation's header and is dropped only when the allocation is freed, which
        // `self.0` prevents for as long as `self` exists.
        unsafe { &*meta }
    }

    pub(crate) fn waker(&self) -> &Waker {
        &self.0
    }

    pub(crate) fn into_waker(self) -> Waker {
        self.0
    }
}

struct TaskFuture<'a, F> {
    /// Dropped by hand, in place, in `Drop` below, so a panic in its destructor is caught
    /// (async-task aborts the process on a panic while it drops a cancelled future).
    future: ManuallyDrop<F>,
    guard: Unregister<'a>,
}

impl<F> Drop for TaskFuture<'_, F> {
    fn drop(&mut self) {
        let future = &mut self.future;
        // SAFETY: `future` is dropped exactly once, here, and in place (it never moves, so the
        // pinning guarantee holds); nothing touches it afterwards.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(future) }));
        // A panic in the future's destructor is swallowed: the task is finished either way.
        drop(dropped);
    }
}

impl<F: Future> Future for TaskFuture<'_, F> {
    type Output = Output<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self` (nothing
        // hands it out by value, and `Drop` drops it in place); `guard` is not pinned and is
        // only used through `&mut`.
        let this = unsafe { self.get_unchecked_mut() };
        // `run` looked at the abort flag before async-task marked the task running; an abort in
        // between found it scheduled, so its wake-up did nothing. Seen here, the task is woken
        // again and dropped at its next run; an abort after this check wakes a running task,
        // which async-task schedules again.
        if this.guard.0.is_some_and(TaskMeta::is_aborted) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // SAFETY: see above; `this.future` stays where it is for the rest of its life.
        let future = unsafe { Pin::new_unchecked(&mut *this.future) };
        #[cfg(feature = "tracing")]
        let _span = this.guard.0.and_then(|m| m.info.span()).map(|s| s.enter());
        let (out, outcome) = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(v)) => (Ok(v), Outcome::Completed),
            Err(panic) => (Err(panic), Outcome::Panicked),
        };
        this.guard.release(outcome);
        Poll::Ready(out)
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use crate::Executor;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn wait_for(flag: &AtomicBool) {
        let start = Instant::now();
        while !flag.load(Ordering::SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(5), "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The metadata stays at four words: the executor's number and the id, the registry slot,
    /// the spawn site (or the rare data), and the state with the poll figures.
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn the_metadata_is_four_words() {
        assert_eq!(std::mem::size_of::<TaskMeta>(), 32);
        assert_eq!(std::mem::size_of::<TaskRef>(), 16);
    }

    /// A name moves the spawn site out of line with it; both read back, and an unnamed task
    /// keeps its site in the word itself.
    #[test]
    fn names_and_spawn_sites_read_back() {
        let here = Location::caller();
        let named = TaskInfo::new(Some("fetcher".into()), here);
        assert_eq!(named.name(), Some("fetcher"));
        assert_eq!(named.location(), here);
        let unnamed = TaskInfo::new(None, here);
        assert_eq!(unnamed.name(), None);
        assert!(unnamed.origin.extra().is_none());
        assert_eq!(unnamed.location(), here);
        assert_ne!(named.id(), unnamed.id());
    }

    /// Polls count up and stop at the field's top; the state bit is kept apart from them.
    #[cfg(feature = "metrics")]
    #[test]
    fn polls_saturate_and_keep_the_state_apart() {
        let info = TaskInfo::new(None, Location::caller());
        assert_eq!((info.polls(), info.since_last_poll(0)), (0, None));
        info.set_state(SCHEDULED);
        info.poll_started(5 << 20);
        assert_eq!((info.polls(), info.state()), (1, IDLE));
        info.set_state(SCHEDULED);
        assert_eq!((info.polls(), info.state()), (1, SCHEDULED));
        info.stats
            .store((POLLS_MAX - 1) << POLLS_SHIFT, Ordering::Relaxed);
        info.poll_started(0);
        info.poll_started(0);
        assert_eq!(info.polls(), POLLS_MAX);
    }

    /// The time since the last poll is right to a unit (2^20 ns), across the field's wrap.
    #[cfg(feature = "metrics")]
    #[test]
    fn the_time_since_the_last_poll_survives_the_wrap() {
        let info = TaskInfo::new(None, Location::caller());
        let unit = 1u64 << TIME_UNIT_SHIFT;
        info.poll_started(3 * unit + 7);
        let since = info.since_last_poll(13 * unit).unwrap();
        assert_eq!(since, std::time::Duration::from_nanos(10 * unit));
        // Just before the 32-bit field wraps, and 4 units after.
        let late = (u64::from(u32::MAX) - 1) * unit;
        info.poll_started(late);
        let since = info.since_last_poll(late + 6 * unit).unwrap();
        assert_eq!(since, std::time::Duration::from_nanos(6 * unit));
    }

    /// A task's metadata holds its executor alive (through the number it keeps), and lets it
    /// go when the task is freed.
    #[test]
    fn a_task_keeps_its_executor_until_it_is_freed() {
        let ex = Executor::new(1);
        let weak = Arc::downgrade(ex.shared());
        let h = ex.spawn(async { 7 });
        let start = Instant::now();
        while !h.is_finished() {
            assert!(start.elapsed() < Duration::from_secs(5), "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(ex);
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            weak.upgrade().is_some(),
            "the handle's task holds the executor"
        );
        drop(h);
        let start = Instant::now();
        while weak.upgrade().is_some() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the freed task still held its executor"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A runnable dropped without being run drops its future (once) and unregisters the task.
    #[test]
    fn dropping_an_unrun_task_drops_its_future_and_unregisters_it() {
        let ex = Executor::new(1);
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let shared = ex.shared().clone();
        let shard = shared.registry.pick_shard();
        let (runnable, task) = shared.registry.register(shard, &shared.shutdown, |slot| {
            let info = TaskInfo::new(None, Location::caller());
            let (runnable, task) = spawn(TaskMeta::new(shared.clone(), slot, info), async move {
                let _flag = flag;
            });
            (slot.map(|_| TaskRef::new(&runnable)), (runnable, task))
        });
        assert!(runnable.metadata().is_registered());
        drop(runnable);
        assert!(dropped.load(Ordering::SeqCst));
        assert!(
            shared.registry.drain().is_empty(),
            "the task left the registry"
        );
        drop(task);
    }

    /// A future whose destructor panics: the panic is swallowed where the task is dropped, and
    /// the worker keeps running tasks.
    #[test]
    fn a_panicking_destructor_does_not_take_the_worker_down() {
        struct PanicOnDrop;
        impl Drop for PanicOnDrop {
            fn drop(&mut self) {
                panic!("destructor");
            }
        }
        let ex = Executor::new(1);
        let h = ex.spawn(async {
            let _p = PanicOnDrop;
            std::future::pending::<()>().await;
        });
        h.abort();
        assert!(ex.block_on(h.catch()).unwrap_err().is_cancelled());
        assert_eq!(ex.spawn(async { 3 }).join(), 3);
    }

    /// A task's output is produced once and its future dropped after it completes.
    #[test]
    fn a_completed_task_drops_its_future_and_keeps_its_output() {
        let ex = Executor::new(1);
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let h = ex.spawn(async move {
            let _flag = flag;
            String::from("out")
        });
        wait_for(&dropped);
        assert_eq!(h.join(), "out");
    }

    /// An abort that lands after `run` checked the flag and before the poll starts (the task
    /// is scheduled then, so the abort's wake-up does nothing) still gets the task dropped.
    #[test]
    fn an_abort_between_the_check_and_the_poll_is_not_lost() {
        let ex = Executor::new(1);
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        // Not registered: its schedule function hands it to the blocking pool, whose thread
        // runs it through `run`.
        let info = TaskInfo::new(None, Location::caller());
        let (runnable, task) = spawn(TaskMeta::new(ex.shared().clone(), None, info), async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        task.detach();
        // `run` has passed its check; the abort comes now.
        runnable
            .metadata()
            .word
            .fetch_or(ABORTED, Ordering::Release);
        runnable.run();
        let start = Instant::now();
        while !dropped.load(Ordering::SeqCst) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the aborted task was polled and left pending"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
