//! Large zero-filled arrays in anonymous mappings of their own: the kernel supplies
//! zero pages on first touch, so only the pages in use are ever faulted in, and dropping
//! the array gives them back at once.
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

#[cfg(test)]
mod tests {
    use super::*;

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
