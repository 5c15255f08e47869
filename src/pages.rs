//! Large zero-filled arrays in anonymous mappings of their own: the kernel supplies
//! zero pages on first touch, so only the pages in use are ever faulted in, and dropping
//! the array gives them back at once. And the opposite for a buffer about to be written
//! whole: its room faulted in ahead by one call ([`reserve_faulted`]), or backed by the
//! pages of buffers given up before it ([`retire`], [`adopt_retired`]).
//!
//! The heap cannot promise that: with the top of the heap padded (`main.rs`), a zeroed
//! request is served from memory the heap already has and is cleared by writing all of
//! it, a page fault per 4 KiB whether the caller uses the pages or not.

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Element types whose all-zero bytes are a valid value.
pub trait Zeroable: Copy + private::Sealed {}
impl Zeroable for u8 {}
impl Zeroable for u32 {}

mod private {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u32 {}
}

/// `len` zeros of `T`, page aligned.
pub struct Zeroed<T: Zeroable> {
    ptr: NonNull<T>,
    len: usize,
    bytes: usize,
}

// SAFETY: owned memory like a `Vec<T>` of plain integers; nothing else points into it.
unsafe impl<T: Zeroable> Send for Zeroed<T> {}
// SAFETY: shared access only reads through `&[T]`.
unsafe impl<T: Zeroable> Sync for Zeroed<T> {}

impl<T: Zeroable> Zeroed<T> {
    pub fn new(len: usize) -> Zeroed<T> {
        let size = len.saturating_mul(size_of::<T>());
        let bytes = size.max(1).next_multiple_of(4096);
        // SAFETY: a fresh private anonymous mapping, no address hint and no file.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            let layout = std::alloc::Layout::from_size_align(bytes, 4096)
                .unwrap_or(std::alloc::Layout::new::<T>());
            std::alloc::handle_alloc_error(layout);
        }
        match NonNull::new(p.cast::<T>()) {
            Some(ptr) => Zeroed { ptr, len, bytes },
            None => std::alloc::handle_alloc_error(std::alloc::Layout::new::<T>()),
        }
    }
}

impl<T: Zeroable> Deref for Zeroed<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the mapping holds `len` values of `T` (zeros until written: valid for
        // every `Zeroable`), page aligned, alive as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> DerefMut for Zeroed<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> Drop for Zeroed<T> {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made; no borrow of it outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.bytes) };
    }
}

/// Room for `n` more elements in `v` (as `Vec::reserve` makes it: exactly that in an
/// empty vector), its pages faulted in by one system call when that room is large ([`PREFAULT_MIN`] bytes or more): for a buffer about to be written whole
/// (a file read, a decoded or copied list). A page faulted in on first touch costs an
/// exception each, about 1 µs on a 2-CPU VM; populated in one call, about 0.35 µs (a
/// re-apply of 100,000 addresses writes some 4 MB of fresh buffers). The pages are
/// whole pages inside the room; their contents do not change (fresh memory stays zero).
/// Kernels before 5.14 refuse the call: the pages are then faulted in as they are
/// written.
pub fn reserve_faulted<T>(v: &mut Vec<T>, n: usize) {
    v.reserve(n);
    let bytes = n.saturating_mul(size_of::<T>());
    if bytes < PREFAULT_MIN {
        return;
    }
    let start = v.spare_capacity_mut().as_mut_ptr() as usize;
    let first = start.next_multiple_of(PAGE);
    let end = (start + bytes) / PAGE * PAGE;
    if end > first {
        // SAFETY: the range is whole pages inside `v`'s allocation, which it owns and
        // nothing reads (its spare room): populating writes no byte, it only maps the
        // pages in, as a first write would.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                end - first,
                libc::MADV_POPULATE_WRITE,
            );
        }
    }
}

/// The least room [`reserve_faulted`] faults in ahead (smaller: first touches are few).
const PREFAULT_MIN: usize = 64 << 10;

const PAGE: usize = 4096;

/// The pages of buffers given up ([`retire`]) for the next large buffer to take
/// ([`adopt_retired`]): the process's one pool.
static RETIRED: Retired = Retired::new();

/// The least buffer [`retire`] keeps the pages of.
const RETIRE_MIN: usize = 1 << 20;

/// From now on, [`retire`] keeps the pages of the buffers it is given for the next large
/// buffer to be written ([`adopt_retired`]), instead of freeing them: for a run that
/// drops a large input's texts and then writes a batch about twice their size (a million
/// addresses: 17 MB of text, a 38 MB batch), which then faults in that much less fresh
/// memory (populating a page, zeroing and charging it, costs about 0.45 µs here; moving
/// it costs nothing per page). What is kept is resident until taken, as the texts were;
/// what is never taken is released with the process.
pub fn keep_retired() {
    RETIRED.keep();
}

/// Gives up `bytes` (a buffer whose contents nothing needs any more): freed, or, once
/// [`keep_retired`] was called and it is [`RETIRE_MIN`] bytes or more, its allocation
/// kept for good and its whole pages put aside for [`adopt_retired`].
pub fn retire(bytes: Vec<u8>) {
    RETIRED.retire(bytes);
}

/// Gives the pages [`retire`] put aside back to the kernel: before a step that holds a
/// lot of memory of its own ahead of the buffer they were kept for.
pub fn release_retired() {
    RETIRED.release();
}

/// How many bytes of pages [`retire`] has put aside.
pub fn retired_len() -> usize {
    RETIRED.len()
}

/// Moves the pages [`retire`] put aside into `v`'s room, one after another from its
/// first whole page, as far as they fit, and releases the rest. Returns how much of the
/// room, from `v.len()`, is then backed by pages in place (0: none). Their contents are
/// whatever was there: `v` only ever exposes bytes written into it.
pub fn adopt_retired(v: &mut Vec<u8>) -> usize {
    RETIRED.adopt(v)
}

/// A pool of retired pages: whole pages (address, length) of allocations kept for good,
/// in the order given, and whether buffers given up are kept at all.
struct Retired {
    pages: std::sync::Mutex<Vec<(usize, usize)>>,
    keep: std::sync::atomic::AtomicBool,
}

impl Retired {
    const fn new() -> Retired {
        Retired {
            pages: std::sync::Mutex::new(Vec::new()),
            keep: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn keep(&self) {
        self.keep.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn take(&self) -> Vec<(usize, usize)> {
        std::mem::take(&mut *self.pages.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn retire(&self, bytes: Vec<u8>) {
        let kept = self.keep.load(std::sync::atomic::Ordering::Relaxed);
        if !kept || bytes.capacity() < RETIRE_MIN {
            return;
        }
        let mut bytes = std::mem::ManuallyDrop::new(bytes);
        let base = bytes.as_mut_ptr() as usize;
        let (first, end) = whole_pages(base, bytes.capacity());
        if end > first {
            let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
            pages.push((first, end - first));
        }
    }

    fn release(&self) {
        for (addr, len) in self.take() {
            release(addr, len);
        }
    }

    fn len(&self) -> usize {
        let pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        pages.iter().map(|(_, len)| len).sum()
    }

    fn adopt(&self, v: &mut Vec<u8>) -> usize {
        let retired = self.take();
        let room = v.spare_capacity_mut();
        let base = room.as_mut_ptr() as usize;
        let (first, end) = whole_pages(base, room.len());
        let mut at = first;
        let mut holed = false;
        for (addr, len) in retired {
            let take = len.min(end.saturating_sub(at));
            if take > 0 && !holed {
                match move_pages(addr, take, at) {
                    Moved::Yes => at += take,
                    Moved::No => release(addr, take),
                    Moved::Holed => (holed, at) = (true, first),
                }
            } else if take > 0 {
                release(addr, take);
            }
            if take < len {
                release(addr + take, len - take);
            }
        }
        if holed {
            // `v`'s room has unmapped pages no write may touch: its allocation is kept
            // for good, never to be touched again, and `v` gets a new one with its
            // contents.
            let mut fresh = Vec::with_capacity(v.capacity());
            fresh.extend_from_slice(v);
            std::mem::forget(std::mem::replace(v, fresh));
        }
        if at > first { at - base } else { 0 }
    }
}

/// What [`move_pages`] did.
enum Moved {
    Yes,
    /// Nothing: the pages stayed where they were, and the room is as it was.
    No,
    /// Nothing, and the room lost its pages there (a failed move had unmapped them, and
    /// mapping fresh ones failed too).
    Holed,
}

/// The whole pages inside `len` bytes from `base`: first page and end.
fn whole_pages(base: usize, len: usize) -> (usize, usize) {
    (
        base.next_multiple_of(PAGE),
        base.saturating_add(len) / PAGE * PAGE,
    )
}

/// Moves the `len` bytes of pages at `from` (retired: no one's any more) to `to` (whole
/// pages inside a live buffer's room), replacing what was mapped there. When the move
/// fails, `to` is mapped afresh (a failed move may have unmapped it) and `from` released.
fn move_pages(from: usize, len: usize, to: usize) -> Moved {
    // SAFETY: `from..from+len` are whole pages of an allocation kept for good by
    // `retire` and handed out once (taken from its pool); `to..to+len` are whole pages
    // of the caller's spare room, which nothing reads. mremap with MREMAP_FIXED maps
    // the pages at `to` in place of what was there; `from` is left unmapped.
    let moved = unsafe {
        libc::mremap(
            from as *mut libc::c_void,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            to as *mut libc::c_void,
        )
    };
    if moved != libc::MAP_FAILED {
        return Moved::Yes;
    }
    // SAFETY: `to..to+len` are whole pages of the caller's spare room (see above):
    // fresh anonymous pages there, as it had before.
    let fresh = unsafe {
        libc::mmap(
            to as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    release(from, len);
    match fresh == libc::MAP_FAILED {
        true => Moved::Holed,
        false => Moved::No,
    }
}

/// Gives retired pages back to the kernel.
fn release(addr: usize, len: usize) {
    // SAFETY: whole pages of an allocation kept for good by `retire`, no one's any more.
    unsafe { libc::munmap(addr as *mut libc::c_void, len) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The room is there, faulted in (resident before any write), and what was in the
    /// vector is kept.
    #[test]
    fn reserved_room_is_faulted_in_and_the_contents_kept() {
        let mut v: Vec<u64> = vec![7, 8, 9];
        reserve_faulted(&mut v, 1 << 20);
        assert!(v.capacity() >= 3 + (1 << 20));
        assert_eq!(v, [7, 8, 9]);
        let room = v.spare_capacity_mut();
        let resident = resident_pages(room.as_ptr() as usize + PAGE, 64);
        assert_eq!(
            resident, 64,
            "pages in the room are mapped before any write"
        );
        let mut small: Vec<u8> = Vec::new();
        reserve_faulted(&mut small, 100);
        assert!(small.capacity() >= 100 && small.is_empty());
    }

    /// A buffer given up backs the next large one: its pages are in place before any
    /// write, what does not fit is released, the pool is left empty, and what is written
    /// reads back.
    #[test]
    fn retired_pages_back_the_next_buffer() {
        // A pool of the test's own: the process's one is left to the process.
        let pool = Retired::new();
        let mut text: Vec<u8> = Vec::with_capacity(4 << 20);
        text.resize(4 << 20, b'x');
        pool.retire(text.clone());
        assert_eq!(pool.len(), 0, "not kept until asked");
        pool.keep();
        pool.retire(text);
        pool.retire(vec![b'y'; 100]);
        assert!(pool.len() >= (4 << 20) - 2 * PAGE);
        let mut batch: Vec<u8> = Vec::with_capacity(2 << 20);
        batch.extend_from_slice(b"head");
        let resident = pool.adopt(&mut batch);
        assert!(resident >= (2 << 20) - 3 * PAGE, "{resident}");
        assert!(resident <= batch.capacity() - batch.len());
        let room = batch.spare_capacity_mut().as_ptr() as usize;
        assert_eq!(resident_pages(room + PAGE, 64), 64);
        assert_eq!(pool.len(), 0, "the rest released");
        batch.resize(2 << 20, 7);
        assert_eq!(&batch[..4], b"head");
        assert!(batch[4..].iter().all(|&b| b == 7));
        let mut none: Vec<u8> = Vec::with_capacity(2 << 20);
        assert_eq!(pool.adopt(&mut none), 0, "nothing retired: nothing adopted");
        pool.retire(vec![b'z'; 2 << 20]);
        pool.release();
        assert_eq!(pool.len(), 0);
    }

    /// A move the kernel refuses (the pages' mapping is sealed, `mseal`: mremap fails
    /// with EPERM) leaves the buffer whole: nothing counted as adopted, its room mapped
    /// and writable, the pool empty.
    #[test]
    fn a_refused_move_leaves_the_buffer_whole() {
        // SAFETY: a fresh private anonymous mapping of the test's own, no hint, no file.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        // SAFETY: seals that mapping, which nothing else uses (Linux 6.10 and later):
        // it can no longer be moved nor unmapped, and stays for the process's life.
        let sealed = unsafe { libc::syscall(libc::SYS_mseal, p, 2 * PAGE, 0) };
        assert_eq!(sealed, 0, "mseal: {}", std::io::Error::last_os_error());
        let pool = Retired::new();
        (pool.pages.lock().unwrap_or_else(|e| e.into_inner())).push((p as usize, 2 * PAGE));
        let mut v: Vec<u8> = Vec::with_capacity(1 << 20);
        v.push(1);
        assert_eq!(pool.adopt(&mut v), 0, "nothing moved");
        assert_eq!(pool.len(), 0);
        v.resize(1 << 20, 9);
        assert_eq!(v[0], 1);
        assert!(v[1..].iter().all(|&b| b == 9));
    }

    /// How many of the `n` pages from the page holding `addr` are resident (`mincore`).
    fn resident_pages(addr: usize, n: usize) -> usize {
        let first = addr / PAGE * PAGE;
        let mut vec = vec![0u8; n];
        // SAFETY: mincore reads page-table state of a range inside a live allocation
        // (the test's vector) and writes `n` bytes into `vec`.
        let r = unsafe { libc::mincore(first as *mut libc::c_void, n * PAGE, vec.as_mut_ptr()) };
        assert_eq!(r, 0, "mincore");
        vec.iter().filter(|b| *b & 1 == 1).count()
    }

    #[test]
    fn starts_as_zeros_and_keeps_what_is_written() {
        let mut a = Zeroed::<u32>::new(100_000);
        assert_eq!(a.len(), 100_000);
        assert!(a.iter().all(|&x| x == 0));
        a[99_999] = 7;
        a[0] = 1;
        assert_eq!((a[0], a[50_000], a[99_999]), (1, 0, 7));
        let e = Zeroed::<u8>::new(0);
        assert!(e.is_empty());
    }
}
