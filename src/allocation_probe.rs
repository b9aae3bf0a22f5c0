//! The lib test binary's allocator: the system one, also noting the largest single allocation each thread
//! asks for, so a test can say how much a piece of code allocated at once (a decoded frame about its size and
//! not what it claimed; a read buffer reused rather than allocated again).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct LargestAllocation;

thread_local! {
    static LARGEST_BYTES: Cell<usize> = const { Cell::new(0) };
}

fn note(bytes: usize) {
    let _ = LARGEST_BYTES.try_with(|largest| largest.set(largest.get().max(bytes)));
}

// SAFETY: every call goes unchanged to the system allocator, which upholds `GlobalAlloc`'s contract; `note`
// only updates a thread-local `Cell` (never allocating, and skipped while the thread-local is torn down).
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// Runs `f` and returns the largest single allocation it made on this thread, in bytes.
pub fn largest_allocation_bytes(f: impl FnOnce()) -> usize {
    LARGEST_BYTES.with(|largest| largest.set(0));
    f();
    LARGEST_BYTES.with(Cell::get)
}
