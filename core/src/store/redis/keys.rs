//! Key names. Only hex fingerprints appear, never names or addresses, and
//! every account-owned key carries the account's hash tag, so that one
//! account's keys live in one Redis Cluster slot:
//!
//! | key                                   | holds                          |
//! |---------------------------------------|--------------------------------|
//! | `{prefix}:meta`                       | the store's meta blob          |
//! | `{prefix}:{site}`                     | the site-wide window (a hash)  |
//! | `{prefix}:{<owner>}:account:<fp>`     | the account's counter          |
//! | `{prefix}:{<owner>}:account_ip:<fp>`  | an (account, network) counter  |
//! | `{prefix}:{<owner>}:device:<fp>`      | a trusted device's counter     |
//! | `{prefix}:{<owner>}:keys`             | the set of the account's keys  |
//! | `{prefix}:{<fp>}:ip`                  | a network's counter            |
//! | `{prefix}:{<fp>}:ip_range`            | a wider network's counter      |
//!
//! `<owner>` and `<fp>` are 16 lowercase hex digits.

use crate::decision::Dimension;
use crate::table::SlotKey;

/// A counter's name, and the index set of the account that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyName {
    /// The key's identity in this process's caches (never 0).
    pub(crate) id: u64,
    pub(crate) counter: String,
    pub(crate) index: Option<String>,
}

pub(crate) fn meta(prefix: &str) -> String {
    format!("{prefix}:meta")
}

pub(crate) fn site(prefix: &str) -> String {
    format!("{prefix}:{{site}}")
}

pub(crate) fn index(prefix: &str, owner: u64) -> String {
    format!("{prefix}:{{{owner:016x}}}:keys")
}

pub(crate) fn counter(prefix: &str, key: &SlotKey, dimension: Dimension) -> KeyName {
    let (fp, owner) = (key.fp(), key.owner());
    let id = (fp ^ (dimension as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
    if owner == 0 {
        KeyName {
            id,
            counter: format!("{prefix}:{{{fp:016x}}}:{dimension}"),
            index: None,
        }
    } else {
        KeyName {
            id,
            counter: format!("{prefix}:{{{owner:016x}}}:{dimension}:{fp:016x}"),
            index: Some(index(prefix, owner)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_share_the_owner_tag() {
        let table = crate::table::Table::new(crate::store::heap_region(1).unwrap());
        let owner = 0xabc | 1;
        let k = table.key(0x1234_5678_9abc_def0, Dimension::AccountIp, owner);
        let n = counter("lg1", &k, Dimension::AccountIp);
        assert_eq!(
            n.counter,
            "lg1:{0000000000000abd}:account_ip:123456789abcdef5"
        );
        assert_eq!(n.index.as_deref(), Some("lg1:{0000000000000abd}:keys"));
        let ip = table.key(0x10, Dimension::Ip, 0);
        assert_eq!(
            counter("lg1", &ip, Dimension::Ip).counter,
            "lg1:{0000000000000016}:ip"
        );
    }
}
