//! The `tracing` feature: a span per task, entered on each poll, and events for spawn and
//! wake. Only built with `--features tracing`.

#![cfg(feature = "tracing")]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Default)]
struct Seen {
    next_id: AtomicU64,
    task_spans: Mutex<Vec<String>>,
    enters: AtomicUsize,
    events: Mutex<Vec<String>>,
}

struct Counting(Arc<Seen>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl Subscriber for Counting {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        if span.metadata().target() == "weft::task" {
            let mut f = Fields(String::new());
            span.record(&mut f);
            self.0.task_spans.lock().unwrap().push(f.0);
        }
        Id::from_u64(self.0.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields(String::new());
        event.record(&mut f);
        self.0
            .events
            .lock()
            .unwrap()
            .push(format!("{} {}", event.metadata().target(), f.0));
    }
    fn enter(&self, _: &Id) {
        self.0.enters.fetch_add(1, Ordering::Relaxed);
    }
    fn exit(&self, _: &Id) {}
}

#[test]
fn each_task_has_a_span_entered_on_each_poll() {
    let seen = Arc::new(Seen::default());
    // Global: the workers' threads must see it too.
    tracing::subscriber::set_global_default(Counting(seen.clone())).unwrap();
    let ex = weft::Executor::builder()
        .workers(1)
        .stall_threshold(None)
        .build()
        .unwrap();
    let h = weft::task::Builder::new().name("traced").spawn_on(
        async {
            for _ in 0..3 {
                weft::yield_now().await;
            }
        },
        &ex,
    );
    h.join();
    let spans = seen.task_spans.lock().unwrap().clone();
    let traced: Vec<_> = spans.iter().filter(|s| s.contains("\"traced\"")).collect();
    assert_eq!(traced.len(), 1, "{spans:?}");
    assert!(traced[0].contains("rt_tracing.rs"), "{spans:?}");
    // Four polls (three yields), each entering the span.
    assert!(seen.enters.load(Ordering::Relaxed) >= 4);
    let events = seen.events.lock().unwrap().clone();
    assert!(events.iter().any(|e| e.contains("spawn")), "{events:?}");
    assert!(
        events.iter().filter(|e| e.contains("wake")).count() >= 3,
        "{events:?}"
    );
}
