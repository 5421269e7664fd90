#!/usr/bin/env bash
# Runs weft's unsafe-heavy unit tests under Miri (Stacked and Tree Borrows), when a nightly
# toolchain with the miri component is installed. Not part of CI: Miri needs nightly.
#   scripts/miri.sh            # both borrow models
#   MIRI_FILTER=queue scripts/miri.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "Miri is not installed: rustup +nightly component add miri rust-src" >&2
  exit 1
fi

# The modules whose unit tests exercise the unsafe code: the task cell and its handle, the
# run queues and the LIFO slot. The task tests start executors: on epoll (Miri has shims for
# epoll and eventfd; io_uring it has not).
filters=(${MIRI_FILTER:-runtime::task task::join runtime::scheduler::queue})

for model in "" "-Zmiri-tree-borrows"; do
  echo "== miri ${model:-(stacked borrows)}"
  WEFT_IO=epoll MIRIFLAGS="-Zmiri-disable-isolation ${model}" \
    cargo +nightly miri test -p weft --lib --no-default-features -- "${filters[@]}"
done
