//! `forwarding_allocator!(Type, note)`: implements `GlobalAlloc` for the
//! unit struct `Type` by forwarding every call to `System` unchanged and
//! telling `note(delta)` the change in live heap bytes. Shared by the test
//! allocator (`common/heap.rs`, per thread) and the stress binary's
//! (`benches/src/bin/stress.rs`, process-wide), which differ only in how
//! they count; included by `#[path]`. `note` must not allocate.

macro_rules! forwarding_allocator {
    ($ty:ident, $note:path) => {
        // SAFETY: every method forwards to `System` with the caller's
        // arguments unchanged; `$note` only counts and does not allocate.
        unsafe impl std::alloc::GlobalAlloc for $ty {
            unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
                $note(layout.size() as isize);
                // SAFETY: forwarded unchanged.
                unsafe { std::alloc::System.alloc(layout) }
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
                $note(-(layout.size() as isize));
                // SAFETY: `ptr` came from `System` with this layout.
                unsafe { std::alloc::System.dealloc(ptr, layout) }
            }

            unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
                $note(layout.size() as isize);
                // SAFETY: forwarded unchanged.
                unsafe { std::alloc::System.alloc_zeroed(layout) }
            }

            unsafe fn realloc(
                &self,
                ptr: *mut u8,
                layout: std::alloc::Layout,
                new_size: usize,
            ) -> *mut u8 {
                $note(new_size as isize - layout.size() as isize);
                // SAFETY: forwarded unchanged; `ptr` came from `System`.
                unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
            }
        }
    };
}
