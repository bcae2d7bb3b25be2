//! Bad input is an error with a stable kind, never a panic, and records nothing.

use loginguard::{Attempt, ErrorKind, Guard, Policy};

#[test]
fn bad_attempts_have_stable_kinds_and_record_nothing() {
    let g = Guard::new(Policy::default()).unwrap();
    let long = "a".repeat(1025);
    let long_device = vec![7u8; 257];
    let cases: Vec<(Attempt<'_>, ErrorKind)> = vec![
        (Attempt::new(), ErrorKind::InvalidAttempt),
        (Attempt::new().account("").ip(""), ErrorKind::InvalidAttempt),
        (Attempt::new().account(" \t "), ErrorKind::InvalidAttempt),
        (
            Attempt::new().ip("10.0.0.1").device("d"),
            ErrorKind::InvalidAttempt,
        ),
        (Attempt::new().account(&long), ErrorKind::InvalidAttempt),
        (
            Attempt::new().account("a").device(&long_device[..]),
            ErrorKind::InvalidAttempt,
        ),
        (
            Attempt::new().account("a").ip("300.1.1.1"),
            ErrorKind::InvalidIp,
        ),
        (
            Attempt::new().account("a").ip("fe80::1%eth0"),
            ErrorKind::InvalidIp,
        ),
        (
            Attempt::new().account("a").ip_bytes(&[1, 2, 3, 4, 5]),
            ErrorKind::InvalidIp,
        ),
    ];
    for (a, kind) in &cases {
        for result in [g.check(a), g.record_failure(a), g.begin(a, true)] {
            assert_eq!(result.unwrap_err().kind(), *kind, "{a:?}");
        }
        assert_eq!(g.record_success(a, true).unwrap_err().kind(), *kind);
        assert_eq!(g.inspect(a).unwrap_err().kind(), *kind);
    }
    assert_eq!(g.stats().occupancy, 0);
    assert_eq!(
        g.reset_account("").unwrap_err().kind(),
        ErrorKind::InvalidAttempt
    );
    assert_eq!(g.reset_ip("nope").unwrap_err().kind(), ErrorKind::InvalidIp);
}

#[test]
fn policy_errors_name_the_field() {
    let cases = [
        ("bogus = 1", "bogus"),
        (
            "[account]\nchallenge_afterr = 3",
            "account.challenge_afterr",
        ),
        ("[account]\nlock_for = \"5\"", "account.lock_for"),
        ("[account]\nlock_for = 5", "account.lock_for"),
        ("[account]\nlock_for = \"0s\"", "account.lock_for"),
        ("[account]\nlock_for = \"1.5h\"", "account.lock_for"),
        ("[ip]\nchallenge_after = -1", "ip.challenge_after"),
        ("[ip]\nchallenge_after = true", "ip.challenge_after"),
        ("[ip]\nlock_growth = 0.5", "ip.lock_growth"),
        (
            "[device]\nlock_for = \"2h\"\nlock_max = \"1h\"",
            "device.lock_max",
        ),
        ("[account_ip]\nlock_max = \"13d\"", "account_ip.lock_max"),
        ("[account]\nreset_after = 20000", "account.reset_after"),
        ("[store]\ncapacity = 0", "store.capacity"),
        ("[store]\nkind = \"shared\"", "store.path"),
        ("[store]\npath = \"/tmp/x\"", "store.path"),
        ("[store]\nkind = \"redis\"", "store.kind"),
        ("[store]\nkind = \"disk\"", "store.kind"),
        ("[store]\nurl = \"redis://h:6379\"", "store.url"),
        ("[store]\ntimeout = \"1s\"", "store.timeout"),
        ("[store]\nkind = \"redis\"\nurl = \"http://h\"", "store.url"),
        ("[store]\nkind = \"redis\"\ncluster = []", "store.cluster"),
        (
            "[store]\nkind = \"redis\"\ncluster = [\"redis://a:1\"]\nurl = \"redis://b:1\"",
            "store.cluster",
        ),
        ("R timeout = \"0ms\"", "store.timeout"),
        ("R timeout = \"100\"", "store.timeout"),
        ("R timeout = \"2m\"", "store.timeout"),
        ("R connect_timeout = 5", "store.connect_timeout"),
        ("R on_error = \"open\"", "store.on_error"),
        ("R clock = \"ntp\"", "store.clock"),
        ("R prefix = \"a{b}\"", "store.prefix"),
        ("R prefix = \"\"", "store.prefix"),
        ("R retain = \"0s\"", "store.retain"),
        ("R secret_file = \"\"", "store.secret_file"),
        ("R path = \"/tmp/x\"", "store.path"),
        ("R mode = \"0600\"", "store.mode"),
        ("R colour = \"red\"", "store.colour"),
        ("ipv4_prefix = 33", "ipv4_prefix"),
        ("account_normalize = \"upper\"", "account_normalize"),
        ("deny_cidrs = [\"10.0.0.0/33\"]", "deny_cidrs[0]"),
        ("allow_cidrs = \"10.0.0.0/8\"", "allow_cidrs"),
        ("[account", "(file)"),
        ("[ip_range]\nipv4_prefix = 33", "ip_range.ipv4_prefix"),
        ("[ip_range]\nipv6_prefix = -1", "ip_range.ipv6_prefix"),
        (
            "[ip_range]\nchallenge_after = \"x\"",
            "ip_range.challenge_after",
        ),
        ("[ip_range]\nprefix = 24", "ip_range.prefix"),
        ("[site]\nchallenge_when = \"300\"", "site.challenge_when"),
        ("[site]\nchallenge_when = \"300/\"", "site.challenge_when"),
        ("[site]\nchallenge_when = \"300/1\"", "site.challenge_when"),
        ("[site]\nchallenge_when = \"0/1m\"", "site.challenge_when"),
        ("[site]\nchallenge_when = \"-3/1m\"", "site.challenge_when"),
        (
            "[site]\nchallenge_when = \"5/500ms\"",
            "site.challenge_when",
        ),
        ("[site]\nchallenge_when = \"5/2d\"", "site.challenge_when"),
        ("[site]\nchallenge_when = 300", "site.challenge_when"),
        ("[site]\nchallenge_when = true", "site.challenge_when"),
        ("[site]\ncalm_for = \"10m\"", "site.calm_for"),
        ("[site]\nbaseline = \"auto\"", "site.baseline"),
        (
            "[site]\nchallenge_when = \"10/1m\"\ncalm_when = \"20/1m\"",
            "site.calm_when",
        ),
        (
            "[site]\nchallenge_when = \"10/1m\"\ncalm_when = \"5/1h\"",
            "site.calm_when",
        ),
        (
            "[site]\nchallenge_when = \"10/1m\"\ncalm_for = \"0s\"",
            "site.calm_for",
        ),
        (
            "[site]\nchallenge_when = \"10/1m\"\ncalm_for = \"2d\"",
            "site.calm_for",
        ),
        (
            "[site]\nchallenge_when = \"10/1m\"\nbaseline = \"learned\"",
            "site.baseline",
        ),
        (
            "[site]\nchallenge_when = \"10/1m\"\nsurge = 0.5",
            "site.surge",
        ),
        (
            "[site]\nchallenge_when = \"10/1m\"\nsurge = \"5\"",
            "site.surge",
        ),
        ("[site]\nwindow = \"1m\"", "site.window"),
    ];
    for (toml, field) in cases {
        let toml = toml.replace(
            "R ",
            "[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n",
        );
        let toml = toml.as_str();
        match Policy::from_toml(toml) {
            Err(loginguard::Error::Policy { field: f, message }) => {
                assert_eq!(f, field, "{toml}: {message}");
            }
            other => panic!("{toml}: expected a policy error, got {other:?}"),
        }
    }
}

#[test]
fn valid_policies_parse() {
    let p = Policy::from_toml(
        r#"
        account_normalize = "exact"
        ipv4_prefix = 24
        ipv6_prefix = 56
        allow_cidrs = ["10.0.0.0/8", "192.0.2.1"]
        [account]
        challenge_after = 0
        reset_after = false
        forget_after = "500ms"
        [ip]
        forgive_every = false
        lock_growth = 1.5
        lock_max = "7d"
        [device]
        enabled = false
        [store]
        kind = "memory"
        capacity = 100
    "#,
    )
    .unwrap();
    assert_eq!(p.account.challenge_after, Some(0));
    assert_eq!(p.account.reset_after, None);
    assert_eq!(p.ip.forgive_every, None);
    assert!(!p.device.enabled);
    assert_eq!(p.store.capacity, 100);
    assert_eq!(
        p.account.forget_after,
        std::time::Duration::from_millis(500)
    );
}

#[test]
fn ip_range_and_site_tables_parse() {
    let p = Policy::from_toml(
        r#"
        [ip_range]
        ipv4_prefix = 20
        ipv6_prefix = 40
        challenge_after = 500
        [site]
        challenge_when = "1000/10m"
        calm_when = "100/10m"
        calm_for = "15m"
        baseline = "auto"
        surge = 3.5
    "#,
    )
    .unwrap();
    assert_eq!((p.ip_range_ipv4_prefix, p.ip_range_ipv6_prefix), (20, 40));
    assert_eq!(p.ip_range.challenge_after, Some(500));
    assert_eq!(p.ip_range.lock_after, Some(250)); // the default row's, kept
    let rate = p.site.challenge_when.unwrap();
    assert_eq!((rate.count, rate.per.as_secs()), (1000, 600));
    assert_eq!(p.site.calm_when.unwrap().count, 100);
    assert_eq!(p.site.calm_for.as_secs(), 900);
    assert_eq!(p.site.baseline, loginguard::Baseline::Auto);
    assert_eq!(p.site.surge, 3.5);
    assert!(!Policy::default().site.enabled());
    assert!(Policy::default().ip_range.enabled);
    assert!(!Policy::from_toml("[site]\nchallenge_when = false")
        .unwrap()
        .site
        .enabled());
}
