//! The `Date` header value, rendered at most once a second from a time the caller supplies.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(super) const DATE_LEN: usize = 29;

/// The rendered `Date` value for the current second.
///
/// Rendering costs a few hundred nanoseconds; a busy worker answers many requests per
/// second, so the text is rebuilt only when the second changes (as hyper and nginx do).
#[derive(Debug, Clone)]
pub(super) struct DateCache {
    /// Whole seconds since the epoch that `text` shows. INVARIANT: `text` renders `secs`.
    secs: u64,
    text: [u8; DATE_LEN],
}

impl DateCache {
    pub(super) fn new(now: SystemTime) -> Self {
        let mut cache = DateCache {
            secs: u64::MAX,
            text: [b' '; DATE_LEN],
        };
        cache.update(now);
        cache
    }

    /// Moves the cache to `now`; returns whether the text changed.
    pub(super) fn update(&mut self, now: SystemTime) -> bool {
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs == self.secs {
            return false;
        }
        let rendered = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
        if rendered.len() == DATE_LEN {
            self.text.copy_from_slice(rendered.as_bytes());
            self.secs = secs;
        }
        true
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_imf_fixdate() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            DateCache::new(t).as_bytes(),
            b"Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }

    #[test]
    fn rerenders_only_when_the_second_changes() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let mut cache = DateCache::new(t);
        assert!(!cache.update(t + Duration::from_millis(999)));
        assert!(cache.update(t + Duration::from_secs(1)));
        assert_eq!(cache.as_bytes(), b"Sun, 06 Nov 1994 08:49:38 GMT");
    }
}
