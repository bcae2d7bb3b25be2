//! The thread's memo of the last attempt's keys (check, then record_failure
//! of one login) answers only for the same guard and the same bytes.

use loginguard::{Action, Attempt, Guard, Policy, Reason};

fn denying() -> Guard {
    let policy = Policy::builder()
        .deny_cidr("10.0.0.0/8".parse().unwrap())
        .build()
        .unwrap();
    Guard::new(policy).unwrap()
}

#[test]
fn another_guard_does_not_see_this_guards_keys() {
    let (deny, plain) = (denying(), Guard::new(Policy::default()).unwrap());
    let a = Attempt::new().account("alice").ip("10.0.0.7");
    for _ in 0..3 {
        assert_eq!(deny.check(&a).unwrap().action, Action::Deny);
        assert_eq!(plain.check(&a).unwrap().action, Action::Allow);
    }
    // A guard built where a dropped one was gets its own id.
    drop(deny);
    let again = Guard::new(Policy::default()).unwrap();
    assert_eq!(again.check(&a).unwrap().action, Action::Allow);
}

#[test]
fn attempts_that_differ_by_one_byte_keep_their_own_keys() {
    let g = Guard::new(Policy::default()).unwrap();
    let long = "a".repeat(64);
    let longer = "a".repeat(65);
    let same_prefix = format!("{}b", &long[..63]);
    let attempts = [
        Attempt::new().account("alice").ip("203.0.113.7"),
        Attempt::new().account("alicf").ip("203.0.113.7"),
        Attempt::new().account("alice").ip("198.51.100.7"),
        Attempt::new().account("alice"),
        Attempt::new().ip("203.0.113.7"),
        Attempt::new().account(&long).ip("203.0.113.7"),
        Attempt::new().account(&same_prefix).ip("203.0.113.7"),
        Attempt::new().account(&longer).ip("203.0.113.7"),
        Attempt::new().account("alice").ip_bytes(&[198, 51, 100, 8]),
    ];
    for (n, a) in attempts.iter().enumerate() {
        // Each attempt's account (or network) has failed n + 1 times: its
        // own failure after every earlier attempt that shares the key.
        let d = g.record_failure(a).unwrap();
        let again = g.check(a).unwrap();
        assert_eq!(d.failures, again.failures, "attempt {n}");
    }
    // The account "alice" failed on attempts 0, 2, 3 and 8.
    let alice = g.check(&Attempt::new().account("alice")).unwrap();
    assert_eq!(
        (alice.action, alice.reason),
        (Action::Challenge, Some(Reason::Account))
    );
    assert_eq!(alice.failures, 4);
    let alicf = g.check(&Attempt::new().account("alicf")).unwrap();
    assert_eq!(alicf.failures, 1);
    for name in [&long, &same_prefix, &longer] {
        assert_eq!(
            g.check(&Attempt::new().account(name)).unwrap().failures,
            1,
            "{name}"
        );
    }
}

#[test]
fn a_refused_attempt_is_refused_every_time() {
    let g = Guard::new(Policy::default()).unwrap();
    let bad = Attempt::new().account("alice").ip("10.0.0.256");
    let good = Attempt::new().account("alice").ip("10.0.0.255");
    g.check(&good).unwrap();
    assert!(g.check(&bad).is_err());
    assert!(g.record_failure(&bad).is_err());
    g.check(&good).unwrap();
    let device = Attempt::new().device("cookie");
    assert!(g.check(&device).is_err());
}
