//! Read side: turning kernel nf_tables messages back into something readable.
//!
//! Today this renders a rule message the way `nft --debug=netlink` prints it
//! (libnftnl's own formatter), which tests use to compare hostwall's expression
//! sequences with nft's. The live decoder (dump -> `ir::Ruleset`) belongs here
//! too, next to the FFI it needs.

use nftnl::nftnl_sys as sys;
use std::ffi::{CStr, c_char};

/// Renders one NEWRULE message (`bytes` starts at its nlmsghdr) as libnftnl
/// prints it: one `[ expr ... ]` line per expression. `None` if it does not parse.
pub fn rule_debug_text(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 20 {
        return None;
    }
    let len = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    if len > bytes.len() {
        return None;
    }
    // nlmsghdr must be 4-byte aligned for libnftnl's attribute walk.
    let mut aligned = vec![0u32; len.div_ceil(4)];
    // SAFETY: `aligned` holds at least `len` bytes; the copy stays in bounds.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), aligned.as_mut_ptr() as *mut u8, len);
    }
    let mut out = vec![0u8; 64 * 1024];
    // SAFETY: the rule object is freed on every path; nlmsg_parse reads only
    // within the message length the header declares (checked above), and
    // snprintf writes at most `out.len()` bytes including the NUL.
    unsafe {
        let r = sys::nftnl_rule_alloc();
        if r.is_null() {
            return None;
        }
        let ok = sys::nftnl_rule_nlmsg_parse(aligned.as_ptr() as *const _, r) >= 0;
        if ok {
            sys::nftnl_rule_snprintf(out.as_mut_ptr() as *mut c_char, out.len(), r, 0, 0);
        }
        sys::nftnl_rule_free(r);
        if !ok {
            return None;
        }
        Some(
            CStr::from_ptr(out.as_ptr() as *const c_char)
                .to_string_lossy()
                .into_owned(),
        )
    }
}
