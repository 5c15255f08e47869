//! Large zero-filled arrays in anonymous mappings of their own: the kernel supplies
//! zero pages on first touch, so only the pages in use are ever faulted in, and dropping
//! the array gives them back at once. And the opposite for a buffer about to be written
//! whole: its room faulted in ahead by one call ([`reserve_faulted`]).
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
