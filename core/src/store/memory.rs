//! The `memory` store: buckets on this process's heap.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

use crate::error::{Error, Result};
use crate::table::Bucket;

const HUGE_PAGE: usize = 2 << 20;

/// `len` zeroed buckets allocated with `layout`.
#[derive(Debug)]
pub(crate) struct Heap {
    ptr: NonNull<Bucket>,
    len: usize,
    layout: Layout,
}

// SAFETY: buckets are plain atomics, shared and mutated only through them.
unsafe impl Send for Heap {}
// SAFETY: as above.
unsafe impl Sync for Heap {}

impl Heap {
    pub(crate) fn zeroed(n: usize) -> Result<Heap> {
        let bytes = n * std::mem::size_of::<Bucket>();
        // Tables of 2 MiB and more are aligned to huge pages, so that each
        // probe costs one TLB entry per 2 MiB rather than per 4 KiB.
        let align = if bytes >= HUGE_PAGE {
            HUGE_PAGE
        } else {
            std::mem::align_of::<Bucket>()
        };
        let layout = Layout::array::<Bucket>(n)
            .and_then(|l| l.align_to(align))
            .map_err(|_| Error::Store(format!("{n} buckets do not fit in memory")))?;
        // SAFETY: the layout is non-zero-sized and the pointer is checked.
        let ptr = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(ptr) else {
            handle_alloc_error(layout)
        };
        if align == HUGE_PAGE {
            // SAFETY: advice on memory this store owns; without transparent
            // huge pages it changes nothing.
            let _ = unsafe {
                rustix::mm::madvise(
                    ptr.as_ptr().cast(),
                    bytes,
                    rustix::mm::Advice::LinuxHugepage,
                )
            };
        }
        let ptr = ptr.cast::<Bucket>();
        // SAFETY: `ptr` holds `n` buckets; all-zero bytes are a valid bucket.
        // Written, not calloc'ed: the memory is committed now, so first
        // inserts never pay for page faults under load.
        unsafe { ptr.as_ptr().write_bytes(0, n) };
        Ok(Heap {
            ptr,
            len: n,
            layout,
        })
    }
}

impl std::ops::Deref for Heap {
    type Target = [Bucket];
    fn deref(&self) -> &[Bucket] {
        // SAFETY: `ptr` holds `len` initialized buckets for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        // SAFETY: allocated in `Heap::zeroed` with exactly this layout.
        unsafe { dealloc(self.ptr.as_ptr().cast(), self.layout) }
    }
}
