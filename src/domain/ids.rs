//! Resource identifiers: 24 lowercase hex characters, ordered by creation time.
//!
//! The first 6 bytes are milliseconds since the epoch and the last 6 a per-process
//! counter seeded at random, so ids sort by creation time (cursor pagination relies on
//! it) and two nodes practically never collide.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;

static LAST: Mutex<(u64, u64)> = Mutex::new((0, 0));

const TAIL_MASK: u64 = (1 << 48) - 1;

/// A fresh, strictly increasing (within this process) 24-hex id.
pub fn new_id() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let (ms, tail) = if now > last.0 {
        // A random start per millisecond keeps ids from two nodes apart.
        (now, rand::thread_rng().next_u64() & (TAIL_MASK >> 1))
    } else if last.1 < TAIL_MASK {
        (last.0, last.1 + 1)
    } else {
        (last.0 + 1, 0)
    };
    *last = (ms, tail);
    drop(last);
    // Written digit by digit: `format!` with widths was ~2 % of PostMessage's instructions
    // (a message and its event each take an id).
    let mut id = String::with_capacity(24);
    for value in [ms & TAIL_MASK, tail] {
        for shift in (0..12).rev() {
            id.push(char::from(b"0123456789abcdef"[((value >> (4 * shift)) & 0xf) as usize]));
        }
    }
    id
}

/// Whether `s` has the shape of one of our ids (used for cursors and path ids).
pub fn is_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A key id: `prefix_` followed by 24 hex characters.
pub fn new_key_id(prefix: &str) -> String {
    format!("{prefix}_{}", new_id())
}

/// A random url-safe secret of 48 characters (288 bits of entropy).
pub fn new_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 36];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_24_hex_and_increasing() {
        let mut prev = new_id();
        for _ in 0..10_000 {
            let next = new_id();
            assert!(is_id(&next), "{next}");
            assert!(next > prev, "{next} <= {prev}");
            prev = next;
        }
    }

    #[test]
    fn an_id_starts_with_its_milliseconds() {
        let ms = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let before = ms();
        let id = new_id();
        let after = ms();
        let stamped = u64::from_str_radix(&id[..12], 16).unwrap();
        assert!((before..=after + 1).contains(&stamped), "{id}: {stamped} not in {before}..={after}");
    }

    #[test]
    fn is_id_rejects_other_shapes() {
        assert!(!is_id("5e4af71a81966cfff3ef655"));
        assert!(!is_id("5E4AF71A81966CFFF3EF6550"));
        assert!(!is_id("5e4af71a81966cfff3ef655g"));
        assert!(is_id("5e4af71a81966cfff3ef6550"));
    }

    #[test]
    fn key_ids_carry_their_prefix() {
        let id = new_key_id("app");
        assert!(id.starts_with("app_") && is_id(&id[4..]));
        assert!(new_secret().len() >= 48);
    }
}
