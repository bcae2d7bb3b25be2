//! The policy: thresholds and windows per dimension, lists, normalization and
//! the store, built in code or read from TOML with errors that name the field.

use std::path::PathBuf;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use toml::{Table, Value};

use crate::decision::Dimension;
use crate::error::{Error, Result};

/// Largest count a threshold may name (the slot stores counts up to 16383).
pub const MAX_THRESHOLD: u32 = 16_000;
/// Longest `lock_for`, `lock_max` or `forgive_every` (12 days): the slot stores
/// lock ends and forgiveness anchors as 31-bit millisecond offsets.
pub const MAX_LOCK: Duration = Duration::from_secs(12 * 24 * 3600);
/// Longest `forget_after` (365 days).
pub const MAX_FORGET: Duration = Duration::from_secs(365 * 24 * 3600);
/// Largest `capacity` (tracked keys) of one table.
pub const MAX_CAPACITY: usize = 1 << 31;
/// Default `capacity`: one million tracked keys, 32 MiB.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

/// How account names are turned into keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountNormalize {
    /// Unicode NFKC (as Django does to usernames), lowercase, trim Unicode
    /// White_Space and what Python and JavaScript also strip (U+001C..U+001F,
    /// U+FEFF) at both ends.
    #[default]
    Fold,
    /// The bytes as given.
    Exact,
}

/// The rule of one counter dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Whether the dimension records and governs attempts at all.
    pub enabled: bool,
    /// Clear the counter once this long has passed since the later of its last
    /// failure and the end of its last lock.
    pub forget_after: Duration,
    /// Forgive one failure per full period, anchored at the first failure.
    pub forgive_every: Option<Duration>,
    /// `failures > n` gives `challenge`.
    pub challenge_after: Option<u32>,
    /// A failure leaving `failures > n` while not locked starts a lock.
    pub lock_after: Option<u32>,
    /// The first lock's length.
    pub lock_for: Duration,
    /// Each further lock is this many times longer (at least 1).
    pub lock_growth: f64,
    /// No lock is longer than this.
    pub lock_max: Duration,
    /// More than n consecutive failures make the key `reset_required`.
    pub reset_after: Option<u32>,
    /// Whether a success clears this dimension's counter.
    pub reset_on_success: bool,
}

impl Rule {
    /// A rule that counts nothing until configured: every threshold off.
    pub const fn off() -> Rule {
        Rule {
            enabled: true,
            forget_after: Duration::from_secs(15 * 60),
            forgive_every: None,
            challenge_after: None,
            lock_after: None,
            lock_for: Duration::from_secs(60),
            lock_growth: 2.0,
            lock_max: Duration::from_secs(3600),
            reset_after: None,
            reset_on_success: true,
        }
    }

    /// The default rule of `dimension`, as in the SPEC's default policy table.
    pub const fn default_for(dimension: Dimension) -> Rule {
        let base = Rule::off();
        match dimension {
            Dimension::Account => Rule {
                challenge_after: Some(3),
                reset_after: Some(100),
                ..base
            },
            Dimension::AccountIp | Dimension::Device => Rule {
                lock_after: Some(10),
                ..base
            },
            Dimension::Ip => Rule {
                forget_after: Duration::from_secs(24 * 3600),
                forgive_every: Some(Duration::from_secs(600)),
                challenge_after: Some(20),
                lock_after: Some(50),
                lock_for: Duration::from_secs(15 * 60),
                lock_max: Duration::from_secs(24 * 3600),
                reset_on_success: false,
                ..base
            },
            Dimension::IpRange => Rule {
                forget_after: Duration::from_secs(24 * 3600),
                forgive_every: Some(Duration::from_secs(600)),
                challenge_after: Some(100),
                lock_after: Some(250),
                lock_for: Duration::from_secs(15 * 60),
                lock_max: Duration::from_secs(24 * 3600),
                reset_on_success: false,
                ..base
            },
        }
    }

    /// The length of the lock that starts after `locks_so_far` earlier locks:
    /// `lock_for × lock_growth^locks_so_far`, rounded down to the millisecond,
    /// capped at `lock_max`.
    pub fn lock_length_ms(&self, locks_so_far: u32) -> u64 {
        let max = self.lock_max.as_millis() as u64;
        let exp = i32::try_from(locks_so_far).unwrap_or(i32::MAX);
        let ms = (self.lock_for.as_millis() as f64 * self.lock_growth.powi(exp)).floor();
        if ms.is_finite() && ms < max as f64 {
            ms as u64
        } else {
            max
        }
    }

    fn validate(&self, dim: &str) -> Result<()> {
        let field = |name: &str| format!("{dim}.{name}");
        check_duration(&field("forget_after"), self.forget_after, MAX_FORGET)?;
        if let Some(p) = self.forgive_every {
            check_duration(&field("forgive_every"), p, MAX_LOCK)?;
        }
        check_duration(&field("lock_for"), self.lock_for, MAX_LOCK)?;
        check_duration(&field("lock_max"), self.lock_max, MAX_LOCK)?;
        if self.lock_max < self.lock_for {
            return Err(Error::policy(
                field("lock_max"),
                "must be at least lock_for",
            ));
        }
        if !(self.lock_growth.is_finite() && self.lock_growth >= 1.0) {
            return Err(Error::policy(
                field("lock_growth"),
                "must be a finite number of at least 1",
            ));
        }
        for (name, t) in [
            ("challenge_after", self.challenge_after),
            ("lock_after", self.lock_after),
            ("reset_after", self.reset_after),
        ] {
            if let Some(n) = t {
                if n > MAX_THRESHOLD {
                    return Err(Error::policy(
                        field(name),
                        format!("must be at most {MAX_THRESHOLD}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check_duration(field: &str, d: Duration, max: Duration) -> Result<()> {
    if d.is_zero() {
        return Err(Error::policy(field, "must be longer than zero"));
    }
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return Err(Error::policy(field, "must be whole milliseconds"));
    }
    if d > max {
        return Err(Error::policy(
            field,
            format!("must be at most {}", format_duration(max)),
        ));
    }
    Ok(())
}

/// A rate: `count` failures per `per` (`"300/1m"` in a policy file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Failures.
    pub count: u32,
    /// Per this long.
    pub per: Duration,
}

impl Rate {
    /// `count` failures per `per`.
    pub const fn new(count: u32, per: Duration) -> Rate {
        Rate { count, per }
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.count, format_duration(self.per))
    }
}

/// Largest `count` of a site rate.
pub const MAX_SITE_RATE: u32 = 10_000_000;

/// How the site-wide trigger is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Baseline {
    /// `challenge_when` as given.
    #[default]
    Fixed,
    /// `surge` times the rate learned over the past day, never below
    /// `challenge_when` (`baseline = "auto"`).
    Auto,
}

/// The site-wide signal (`[site]`): failures per time across every key, in
/// a lock-free sliding window of 60 steps. Off unless `challenge_when` is set.
///
/// ```
/// use loginguard::{Baseline, Policy};
/// let p = Policy::from_toml("[site]\nchallenge_when = \"300/1m\"").unwrap();
/// assert_eq!(p.site.challenge_when.unwrap().count, 300);
/// assert_eq!(p.site.calm_count(300), 150); // calm_when: half the trigger
/// assert_eq!(p.site.calm_for.as_secs(), 300);
/// assert_eq!(p.site.baseline, Baseline::Fixed);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRule {
    /// Above this rate (more failures than `count` within `per`), every
    /// attempt not on a trusted device gets at least `challenge`, reason
    /// `site`. `None` (`false` in a file): the signal is off.
    pub challenge_when: Option<Rate>,
    /// The attack ends once the rate has stayed below this for `calm_for`
    /// (`None`: half the trigger, rounded down). Same `per` as `challenge_when`.
    pub calm_when: Option<Rate>,
    /// How long the rate must stay below `calm_when` (default 5m).
    pub calm_for: Duration,
    /// Whether the trigger is learned (`"auto"`) or fixed (`"fixed"`).
    pub baseline: Baseline,
    /// With `baseline = "auto"`: the trigger is this many times the rate
    /// learned over the past day (default 5).
    pub surge: f64,
}

impl Default for SiteRule {
    fn default() -> Self {
        SiteRule {
            challenge_when: None,
            calm_when: None,
            calm_for: Duration::from_secs(5 * 60),
            baseline: Baseline::Fixed,
            surge: 5.0,
        }
    }
}

impl SiteRule {
    /// Whether the signal is on.
    pub fn enabled(&self) -> bool {
        self.challenge_when.is_some()
    }

    /// The calm-down count for a trigger of `trigger` failures per window.
    pub fn calm_count(&self, trigger: u64) -> u64 {
        match self.calm_when {
            Some(r) => u64::from(r.count),
            None => trigger / 2,
        }
    }

    fn validate(&self) -> Result<()> {
        let given = |d: &SiteRule| {
            [
                ("site.calm_when", self.calm_when != d.calm_when),
                ("site.calm_for", self.calm_for != d.calm_for),
                ("site.baseline", self.baseline != d.baseline),
                ("site.surge", self.surge != d.surge),
            ]
        };
        let Some(trigger) = self.challenge_when else {
            if let Some((field, _)) = given(&SiteRule::default()).iter().find(|(_, g)| *g) {
                return Err(Error::policy(
                    *field,
                    "the site-wide signal is off: set site.challenge_when first",
                ));
            }
            return Ok(());
        };
        check_rate("site.challenge_when", trigger)?;
        if let Some(calm) = self.calm_when {
            check_rate("site.calm_when", calm)?;
            if calm.per != trigger.per {
                return Err(Error::policy(
                    "site.calm_when",
                    format!(
                        "must count over the same time as challenge_when ({})",
                        format_duration(trigger.per)
                    ),
                ));
            }
            if calm.count > trigger.count {
                return Err(Error::policy(
                    "site.calm_when",
                    "must be at most challenge_when (else the attack would end at once)",
                ));
            }
        }
        check_duration(
            "site.calm_for",
            self.calm_for,
            Duration::from_secs(24 * 3600),
        )?;
        if !(self.surge.is_finite() && self.surge >= 1.0 && self.surge <= 1000.0) {
            return Err(Error::policy(
                "site.surge",
                "must be a number from 1 to 1000",
            ));
        }
        Ok(())
    }
}

fn check_rate(field: &str, rate: Rate) -> Result<()> {
    if rate.count == 0 || rate.count > MAX_SITE_RATE {
        return Err(Error::policy(
            field,
            format!("the count must be from 1 to {MAX_SITE_RATE}"),
        ));
    }
    if rate.per < Duration::from_secs(1) || rate.per > Duration::from_secs(24 * 3600) {
        return Err(Error::policy(field, "the time must be from 1s to 24h"));
    }
    check_duration(field, rate.per, Duration::from_secs(24 * 3600))
}

fn parse_site(table: &Table) -> Result<SiteRule> {
    let mut site = SiteRule::default();
    for (key, value) in table {
        let field = format!("site.{key}");
        match key.as_str() {
            "challenge_when" => {
                site.challenge_when = match value {
                    Value::Boolean(false) => None,
                    _ => Some(as_rate(&field, value)?),
                }
            }
            "calm_when" => site.calm_when = Some(as_rate(&field, value)?),
            "calm_for" => site.calm_for = as_duration(&field, value)?,
            "baseline" => {
                site.baseline = match as_str(&field, value)? {
                    "auto" => Baseline::Auto,
                    "fixed" => Baseline::Fixed,
                    other => {
                        return Err(Error::policy(
                            field,
                            format!("expected \"auto\" or \"fixed\", got {other:?}"),
                        ))
                    }
                }
            }
            "surge" => {
                site.surge = match value {
                    Value::Float(f) => *f,
                    Value::Integer(i) => *i as f64,
                    _ => return Err(type_error(&field, "a number", value)),
                }
            }
            _ => return Err(Error::policy(field, "unknown key")),
        }
    }
    Ok(site)
}

/// Parses `"300/1m"`: a count, a slash, a duration with a unit.
fn as_rate(field: &str, value: &Value) -> Result<Rate> {
    let text = match value {
        Value::String(s) => s.as_str(),
        _ => {
            return Err(Error::policy(
                field,
                format!(
                    "expected a rate such as \"300/1m\" (or false), got {}",
                    value.type_str()
                ),
            ))
        }
    };
    let bad = || {
        Error::policy(
            field,
            format!("{text:?}: expected a rate such as \"300/1m\" (failures/duration)"),
        )
    };
    let (count, per) = text.split_once('/').ok_or_else(bad)?;
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let count: u32 = count.parse().map_err(|_| {
        Error::policy(
            field,
            format!("the count must be from 1 to {MAX_SITE_RATE}"),
        )
    })?;
    let per = parse_duration(per).map_err(|m| Error::policy(field, m))?;
    let rate = Rate { count, per };
    check_rate(field, rate)?;
    Ok(rate)
}

/// Which store keeps the counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StoreKind {
    /// In this process, fixed capacity.
    #[default]
    Memory,
    /// A memory-mapped file at `path`, shared by every process on the host
    /// that opens it, and surviving restarts.
    Shared,
    /// Redis, Valkey or Redis Cluster, shared by every host of a fleet (see
    /// [`RedisConfig`]).
    Redis,
}

/// What a redis guard decides when Redis cannot answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// `challenge`: neither open nor closed (the default).
    #[default]
    Challenge,
    /// `allow`: fail open.
    Allow,
    /// `deny`: fail closed.
    Deny,
}

/// Whose clock a redis guard counts time on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisClock {
    /// The host's clock corrected by an offset sampled from Redis `TIME`
    /// (at open and every 30 seconds), so that hosts agree.
    #[default]
    Redis,
    /// The guard's own [`crate::Clock`] (a [`crate::ManualClock`] in tests).
    Host,
}

/// The redis store's settings (`[store] kind = "redis"`).
///
/// ```
/// use loginguard::{Policy, StoreKind};
/// let p = Policy::from_toml(
///     "[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\ntimeout = \"250ms\"",
/// ).unwrap();
/// assert_eq!(p.store.kind, StoreKind::Redis);
/// assert_eq!(p.store.redis.timeout.as_millis(), 250);
/// assert_eq!(p.store.redis.prefix, "lg1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://`, `rediss://` (TLS) or `unix://` URL of one server.
    pub url: Option<String>,
    /// Seed nodes of a Redis Cluster (`redis://` or `rediss://`), instead of `url`.
    pub cluster: Vec<String>,
    /// Every key starts with it (default `lg1`): letters, digits, `_`, `-`, `.`, `:`.
    pub prefix: String,
    /// One deadline for a whole operation, retries included (default 100ms).
    pub timeout: Duration,
    /// Longest wait for a new connection (default 100ms; never past `timeout`).
    pub connect_timeout: Duration,
    /// The decision when Redis cannot answer in time.
    pub on_error: OnError,
    /// Whose clock counts time.
    pub clock: RedisClock,
    /// How long keys holding only a consecutive count or `reset_required`
    /// live (default 90 days).
    pub retain: Duration,
    /// A file holding the 192-byte hash secret (raw, or as 384 hex digits);
    /// without it, the first host stores a random one in Redis.
    pub secret_file: Option<PathBuf>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: None,
            cluster: Vec::new(),
            prefix: "lg1".into(),
            timeout: Duration::from_millis(100),
            connect_timeout: Duration::from_millis(100),
            on_error: OnError::Challenge,
            clock: RedisClock::Redis,
            retain: Duration::from_secs(90 * 24 * 3600),
            secret_file: None,
        }
    }
}

/// Longest `store.timeout` and `store.connect_timeout`.
const MAX_REDIS_TIMEOUT: Duration = Duration::from_secs(60);

impl RedisConfig {
    fn validate(&self, kind: &StoreKind) -> Result<()> {
        if *kind != StoreKind::Redis {
            let d = RedisConfig::default();
            let given = [
                ("store.url", self.url != d.url),
                ("store.cluster", self.cluster != d.cluster),
                ("store.prefix", self.prefix != d.prefix),
                ("store.timeout", self.timeout != d.timeout),
                (
                    "store.connect_timeout",
                    self.connect_timeout != d.connect_timeout,
                ),
                ("store.on_error", self.on_error != d.on_error),
                ("store.clock", self.clock != d.clock),
                ("store.retain", self.retain != d.retain),
                ("store.secret_file", self.secret_file != d.secret_file),
            ];
            if let Some((field, _)) = given.iter().find(|(_, g)| *g) {
                return Err(Error::policy(
                    *field,
                    "only the redis store has this setting (set kind = \"redis\")",
                ));
            }
            return Ok(());
        }
        match (&self.url, self.cluster.is_empty()) {
            (None, true) => {
                return Err(Error::policy(
                    "store.kind",
                    "the redis store needs store.url (or store.cluster = [...])",
                ))
            }
            (Some(_), false) => {
                return Err(Error::policy(
                    "store.cluster",
                    "give either url or cluster, not both",
                ))
            }
            (Some(url), true) => check_url(
                "store.url",
                url,
                &["redis://", "rediss://", "unix://", "redis+unix://"],
            )?,
            (None, false) => {
                for url in &self.cluster {
                    check_url("store.cluster", url, &["redis://", "rediss://"])?;
                }
            }
        }
        let p = &self.prefix;
        if p.is_empty()
            || p.len() > 64
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
        {
            return Err(Error::policy(
                "store.prefix",
                format!("expected 1 to 64 letters, digits, '_', '-', '.' or ':', got {p:?}"),
            ));
        }
        for (field, d) in [
            ("store.timeout", self.timeout),
            ("store.connect_timeout", self.connect_timeout),
        ] {
            if d.is_zero() || d > MAX_REDIS_TIMEOUT {
                return Err(Error::policy(field, "must be between 1ms and 60s"));
            }
        }
        if self.retain < Duration::from_secs(1) || self.retain > MAX_FORGET * 10 {
            return Err(Error::policy(
                "store.retain",
                "must be between 1s and 3650d",
            ));
        }
        if self
            .secret_file
            .as_ref()
            .is_some_and(|f| f.as_os_str().is_empty())
        {
            return Err(Error::policy("store.secret_file", "must not be empty"));
        }
        Ok(())
    }
}

fn check_url(field: &str, url: &str, schemes: &[&str]) -> Result<()> {
    if !schemes.iter().any(|s| url.starts_with(s)) || url.len() <= 8 {
        return Err(Error::policy(
            field,
            format!(
                "expected a URL starting with {}, got {url:?}",
                schemes.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The `[store]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Where the counters live.
    pub kind: StoreKind,
    /// How many keys the table tracks (each dimension's key is one entry).
    pub capacity: usize,
    /// The shared store's file (`kind = "shared"` only).
    pub path: Option<PathBuf>,
    /// The shared store's file mode (`kind = "shared"` only; `None` is
    /// `0o600`): a new file is created with exactly this mode,
    /// and an existing file is accepted with group write access, or owned by
    /// another user of one of this process's groups, only when it grants the
    /// group write access. Owner read and write, and at most group read and
    /// write: the file holds the hash secret, so others get nothing.
    ///
    /// ```
    /// use loginguard::Policy;
    /// let p = Policy::from_toml("[store]\nkind = \"shared\"\npath = \"/run/lg.store\"\nmode = \"0660\"").unwrap();
    /// assert_eq!(p.store.mode, Some(0o660));
    /// ```
    pub mode: Option<u32>,
    /// The redis store's settings (`kind = "redis"` only).
    pub redis: RedisConfig,
}

/// The shared store file's mode unless `store.mode` says otherwise.
pub(crate) const DEFAULT_STORE_MODE: u32 = 0o600;

/// Checks a `store.mode`: owner read and write, the group nothing, read, or
/// read and write, others nothing.
fn check_store_mode(mode: u32) -> Result<()> {
    let group = mode & 0o070;
    if mode & !0o670 != 0 || mode & 0o600 != 0o600 || !matches!(group, 0 | 0o040 | 0o060) {
        return Err(Error::policy(
            "store.mode",
            format!(
                "{mode:04o} is not one of \"0600\", \"0640\" or \"0660\": the owner reads and writes, the group may read or read and write, others get nothing (the file holds the hash secret)"
            ),
        ));
    }
    Ok(())
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: StoreKind::Memory,
            capacity: DEFAULT_CAPACITY,
            path: None,
            mode: None,
            redis: RedisConfig::default(),
        }
    }
}

/// The whole policy. `Policy::default()` is the SPEC's default policy; every
/// field is public so that anything the TOML file can say is buildable in code,
/// and [`Policy::validate`] applies the same checks as [`Policy::from_toml`].
///
/// ```
/// use loginguard::{Dimension, Policy};
/// let policy = Policy::from_toml(r#"
///     account_normalize = "exact"
///     deny_cidrs = ["198.51.100.0/24"]
///     [account]
///     challenge_after = 5
///     [ip]
///     lock_after = false
/// "#).unwrap();
/// assert_eq!(policy.rule(Dimension::Account).challenge_after, Some(5));
/// assert_eq!(policy.rule(Dimension::Ip).lock_after, None);
/// assert_eq!(policy.rule(Dimension::AccountIp).lock_after, Some(10)); // default kept
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// How account names are keyed.
    pub account_normalize: AccountNormalize,
    /// IPv4 addresses are reduced to this prefix length to form the network.
    pub ipv4_prefix: u8,
    /// IPv6 addresses are reduced to this prefix length to form the network.
    pub ipv6_prefix: u8,
    /// The `ip` and `ip_range` dimensions neither record nor govern attempts from these.
    pub allow_cidrs: Vec<IpNet>,
    /// Attempts from these are denied (reason `denylist`) and nothing is recorded.
    pub deny_cidrs: Vec<IpNet>,
    /// The `account` dimension.
    pub account: Rule,
    /// The `account_ip` dimension.
    pub account_ip: Rule,
    /// The `ip` dimension.
    pub ip: Rule,
    /// The `ip_range` dimension: the wider network, on any account.
    pub ip_range: Rule,
    /// IPv4 addresses are reduced to this prefix length to form the range
    /// (`[ip_range] ipv4_prefix`, default 24). A range is never narrower than
    /// the network: the `ip_range` key uses the smaller of this and `ipv4_prefix`.
    pub ip_range_ipv4_prefix: u8,
    /// IPv6 addresses are reduced to this prefix length to form the range
    /// (`[ip_range] ipv6_prefix`, default 48; never narrower than `ipv6_prefix`).
    pub ip_range_ipv6_prefix: u8,
    /// The `device` dimension.
    pub device: Rule,
    /// The site-wide failure rate (`[site]`, off by default).
    pub site: SiteRule,
    /// Where counters live.
    pub store: StoreConfig,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            account_normalize: AccountNormalize::Fold,
            ipv4_prefix: 32,
            ipv6_prefix: 64,
            allow_cidrs: Vec::new(),
            deny_cidrs: Vec::new(),
            account: Rule::default_for(Dimension::Account),
            account_ip: Rule::default_for(Dimension::AccountIp),
            ip: Rule::default_for(Dimension::Ip),
            ip_range: Rule::default_for(Dimension::IpRange),
            ip_range_ipv4_prefix: 24,
            ip_range_ipv6_prefix: 48,
            device: Rule::default_for(Dimension::Device),
            site: SiteRule::default(),
            store: StoreConfig::default(),
        }
    }
}

impl Policy {
    /// The rule of one dimension.
    pub fn rule(&self, dimension: Dimension) -> &Rule {
        match dimension {
            Dimension::Account => &self.account,
            Dimension::AccountIp => &self.account_ip,
            Dimension::Ip => &self.ip,
            Dimension::IpRange => &self.ip_range,
            Dimension::Device => &self.device,
        }
    }

    /// The rule of one dimension, to change in code.
    pub fn rule_mut(&mut self, dimension: Dimension) -> &mut Rule {
        match dimension {
            Dimension::Account => &mut self.account,
            Dimension::AccountIp => &mut self.account_ip,
            Dimension::Ip => &mut self.ip,
            Dimension::IpRange => &mut self.ip_range,
            Dimension::Device => &mut self.device,
        }
    }

    /// Checks every bound the TOML parser checks; [`crate::Guard::new`] calls it.
    pub fn validate(&self) -> Result<()> {
        if self.ipv4_prefix > 32 {
            return Err(Error::policy("ipv4_prefix", "must be at most 32"));
        }
        if self.ipv6_prefix > 128 {
            return Err(Error::policy("ipv6_prefix", "must be at most 128"));
        }
        if self.ip_range_ipv4_prefix > 32 {
            return Err(Error::policy("ip_range.ipv4_prefix", "must be at most 32"));
        }
        if self.ip_range_ipv6_prefix > 128 {
            return Err(Error::policy("ip_range.ipv6_prefix", "must be at most 128"));
        }
        for d in Dimension::ALL {
            self.rule(d).validate(d.as_str())?;
        }
        self.site.validate()?;
        if self.store.capacity == 0 {
            return Err(Error::policy("store.capacity", "must be at least 1"));
        }
        if self.store.capacity > MAX_CAPACITY {
            return Err(Error::policy(
                "store.capacity",
                format!("must be at most {MAX_CAPACITY}"),
            ));
        }
        match (&self.store.kind, &self.store.path) {
            (StoreKind::Memory, Some(_)) => {
                return Err(Error::policy(
                    "store.path",
                    "only the shared store has a path, and this store is `memory`",
                ))
            }
            (StoreKind::Redis, Some(_)) => {
                return Err(Error::policy(
                    "store.path",
                    "only the shared store has a path, and this store is `redis`",
                ))
            }
            (StoreKind::Shared, None) => {
                return Err(Error::policy("store.path", "the shared store needs a path"))
            }
            (StoreKind::Shared, Some(p)) if p.as_os_str().is_empty() => {
                return Err(Error::policy("store.path", "must not be empty"))
            }
            _ => {}
        }
        match (&self.store.kind, self.store.mode) {
            (StoreKind::Memory, Some(_)) => {
                return Err(Error::policy(
                    "store.mode",
                    "only the shared store has a file mode, and this store is `memory`",
                ))
            }
            (StoreKind::Redis, Some(_)) => {
                return Err(Error::policy(
                    "store.mode",
                    "only the shared store has a file mode, and this store is `redis`",
                ))
            }
            (StoreKind::Shared, Some(mode)) => check_store_mode(mode)?,
            _ => {}
        }
        self.store.redis.validate(&self.store.kind)?;
        Ok(())
    }

    /// Reads a policy file's text. Anything the text leaves out keeps its default.
    pub fn from_toml(text: &str) -> Result<Policy> {
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::policy("(file)", e.message().to_string()))?;
        let mut policy = Policy::default();
        for (key, value) in &table {
            match key.as_str() {
                "account_normalize" => {
                    policy.account_normalize = match as_str(key, value)? {
                        "fold" => AccountNormalize::Fold,
                        "exact" => AccountNormalize::Exact,
                        other => {
                            return Err(Error::policy(
                                key,
                                format!("expected \"fold\" or \"exact\", got {other:?}"),
                            ))
                        }
                    }
                }
                "ipv4_prefix" => policy.ipv4_prefix = as_int(key, value, 32)? as u8,
                "ipv6_prefix" => policy.ipv6_prefix = as_int(key, value, 128)? as u8,
                "allow_cidrs" => policy.allow_cidrs = as_cidrs(key, value)?,
                "deny_cidrs" => policy.deny_cidrs = as_cidrs(key, value)?,
                "store" => policy.store = parse_store(as_table(key, value)?)?,
                "site" => policy.site = parse_site(as_table(key, value)?)?,
                "ip_range" => {
                    let mut table = as_table(key, value)?.clone();
                    if let Some(v) = table.remove("ipv4_prefix") {
                        policy.ip_range_ipv4_prefix = as_int("ip_range.ipv4_prefix", &v, 32)? as u8;
                    }
                    if let Some(v) = table.remove("ipv6_prefix") {
                        policy.ip_range_ipv6_prefix =
                            as_int("ip_range.ipv6_prefix", &v, 128)? as u8;
                    }
                    parse_rule(key, &table, &mut policy.ip_range)?;
                }
                name => match Dimension::ALL.iter().find(|d| d.as_str() == name) {
                    Some(&d) => parse_rule(name, as_table(key, value)?, policy.rule_mut(d))?,
                    None => return Err(Error::policy(name, "unknown key")),
                },
            }
        }
        policy.validate()?;
        Ok(policy)
    }

    /// Reads a policy file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Policy> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::policy("(file)", format!("cannot read {}: {e}", path.display())))?;
        Policy::from_toml(&text)
    }
}

/// Builds a [`Policy`] in code; [`PolicyBuilder::build`] validates it as the
/// TOML parser would.
///
/// ```
/// use loginguard::{AccountNormalize, Dimension, Policy};
/// let policy = Policy::builder()
///     .account_normalize(AccountNormalize::Exact)
///     .deny_cidr("198.51.100.0/24".parse().unwrap())
///     .rule(Dimension::Account, |r| r.challenge_after = Some(5))
///     .rule(Dimension::Ip, |r| r.lock_after = None)
///     .capacity(100_000)
///     .build()
///     .unwrap();
/// assert_eq!(policy.account.challenge_after, Some(5));
/// ```
#[derive(Debug, Clone, Default)]
pub struct PolicyBuilder {
    policy: Policy,
}

impl Policy {
    /// A builder starting from the default policy.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }
}

impl PolicyBuilder {
    /// How account names are keyed.
    pub fn account_normalize(mut self, mode: AccountNormalize) -> Self {
        self.policy.account_normalize = mode;
        self
    }

    /// IPv4 and IPv6 prefix lengths that form a network.
    pub fn prefixes(mut self, ipv4: u8, ipv6: u8) -> Self {
        self.policy.ipv4_prefix = ipv4;
        self.policy.ipv6_prefix = ipv6;
        self
    }

    /// IPv4 and IPv6 prefix lengths that form a range (`ip_range`).
    pub fn range_prefixes(mut self, ipv4: u8, ipv6: u8) -> Self {
        self.policy.ip_range_ipv4_prefix = ipv4;
        self.policy.ip_range_ipv6_prefix = ipv6;
        self
    }

    /// Changes the site-wide signal.
    ///
    /// ```
    /// use std::time::Duration;
    /// use loginguard::{Policy, Rate};
    /// let policy = Policy::builder()
    ///     .site(|s| s.challenge_when = Some(Rate::new(300, Duration::from_secs(60))))
    ///     .range_prefixes(22, 44)
    ///     .build()
    ///     .unwrap();
    /// assert!(policy.site.enabled());
    /// assert_eq!(policy.ip_range_ipv4_prefix, 22);
    /// ```
    pub fn site(mut self, change: impl FnOnce(&mut SiteRule)) -> Self {
        change(&mut self.policy.site);
        self
    }

    /// Adds a network the `ip` and `ip_range` dimensions ignore.
    pub fn allow_cidr(mut self, net: IpNet) -> Self {
        self.policy.allow_cidrs.push(canonical_cidr(net));
        self
    }

    /// Adds a network that is always denied.
    pub fn deny_cidr(mut self, net: IpNet) -> Self {
        self.policy.deny_cidrs.push(canonical_cidr(net));
        self
    }

    /// Changes one dimension's rule.
    pub fn rule(mut self, dimension: Dimension, change: impl FnOnce(&mut Rule)) -> Self {
        change(self.policy.rule_mut(dimension));
        self
    }

    /// How many keys the table tracks.
    pub fn capacity(mut self, keys: usize) -> Self {
        self.policy.store.capacity = keys;
        self
    }

    /// The validated policy.
    pub fn build(self) -> Result<Policy> {
        self.policy.validate()?;
        Ok(self.policy)
    }
}

fn parse_rule(dim: &str, table: &Table, rule: &mut Rule) -> Result<()> {
    for (key, value) in table {
        let field = format!("{dim}.{key}");
        match key.as_str() {
            "enabled" => rule.enabled = as_bool(&field, value)?,
            "forget_after" => rule.forget_after = as_duration(&field, value)?,
            "forgive_every" => rule.forgive_every = as_optional_duration(&field, value)?,
            "challenge_after" => rule.challenge_after = as_threshold(&field, value)?,
            "lock_after" => rule.lock_after = as_threshold(&field, value)?,
            "lock_for" => rule.lock_for = as_duration(&field, value)?,
            "lock_growth" => {
                rule.lock_growth = match value {
                    Value::Float(f) => *f,
                    Value::Integer(i) => *i as f64,
                    _ => return Err(type_error(&field, "a number", value)),
                };
                if !(rule.lock_growth.is_finite() && rule.lock_growth >= 1.0) {
                    return Err(Error::policy(
                        field,
                        "must be a finite number of at least 1",
                    ));
                }
            }
            "lock_max" => rule.lock_max = as_duration(&field, value)?,
            "reset_after" => rule.reset_after = as_threshold(&field, value)?,
            "reset_on_success" => rule.reset_on_success = as_bool(&field, value)?,
            _ => return Err(Error::policy(field, "unknown key")),
        }
    }
    Ok(())
}

fn parse_store(table: &Table) -> Result<StoreConfig> {
    let mut store = StoreConfig::default();
    for (key, value) in table {
        let field = format!("store.{key}");
        match key.as_str() {
            "kind" => match as_str(&field, value)? {
                "memory" => store.kind = StoreKind::Memory,
                "shared" => store.kind = StoreKind::Shared,
                "redis" => store.kind = StoreKind::Redis,
                other => {
                    return Err(Error::policy(
                        field,
                        format!("expected \"memory\", \"shared\" or \"redis\", got {other:?}"),
                    ))
                }
            },
            "capacity" => {
                let n = as_int(&field, value, MAX_CAPACITY as i64)?;
                if n == 0 {
                    return Err(Error::policy(field, "must be at least 1"));
                }
                store.capacity = n as usize;
            }
            "path" => store.path = Some(PathBuf::from(as_str(&field, value)?)),
            "mode" => {
                let text = match value {
                    Value::String(s) => s.as_str(),
                    _ => {
                        return Err(type_error(
                            &field,
                            "a string of octal digits such as \"0660\"",
                            value,
                        ))
                    }
                };
                let digits = text
                    .strip_prefix('0')
                    .filter(|d| d.len() == 3)
                    .unwrap_or(text);
                if digits.len() != 3 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                    return Err(Error::policy(
                        field,
                        format!(
                            "expected a file mode of octal digits such as \"0660\", got {text:?}"
                        ),
                    ));
                }
                let mode = u32::from_str_radix(digits, 8).expect("three octal digits");
                check_store_mode(mode)?;
                store.mode = Some(mode);
            }
            "url" => store.redis.url = Some(as_str(&field, value)?.to_string()),
            "cluster" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| type_error(&field, "a list of URLs", value))?;
                store.redis.cluster = list
                    .iter()
                    .map(|v| as_str(&field, v).map(str::to_string))
                    .collect::<Result<_>>()?;
                if store.redis.cluster.is_empty() {
                    return Err(Error::policy(field, "must name at least one node"));
                }
            }
            "prefix" => store.redis.prefix = as_str(&field, value)?.to_string(),
            "timeout" => store.redis.timeout = as_duration(&field, value)?,
            "connect_timeout" => store.redis.connect_timeout = as_duration(&field, value)?,
            "retain" => store.redis.retain = as_duration(&field, value)?,
            "secret_file" => {
                store.redis.secret_file = Some(PathBuf::from(as_str(&field, value)?));
            }
            "on_error" => {
                store.redis.on_error = match as_str(&field, value)? {
                    "challenge" => OnError::Challenge,
                    "allow" => OnError::Allow,
                    "deny" => OnError::Deny,
                    other => {
                        return Err(Error::policy(
                            field,
                            format!("expected \"challenge\", \"allow\" or \"deny\", got {other:?}"),
                        ))
                    }
                }
            }
            "clock" => {
                store.redis.clock = match as_str(&field, value)? {
                    "redis" => RedisClock::Redis,
                    "host" => RedisClock::Host,
                    other => {
                        return Err(Error::policy(
                            field,
                            format!("expected \"redis\" or \"host\", got {other:?}"),
                        ))
                    }
                }
            }
            _ => return Err(Error::policy(field, "unknown key")),
        }
    }
    Ok(store)
}

fn type_error(field: &str, expected: &str, value: &Value) -> Error {
    Error::policy(
        field,
        format!("expected {expected}, got {}", value.type_str()),
    )
}

fn as_table<'v>(field: &str, value: &'v Value) -> Result<&'v Table> {
    value
        .as_table()
        .ok_or_else(|| type_error(field, "a table", value))
}

fn as_str<'v>(field: &str, value: &'v Value) -> Result<&'v str> {
    value
        .as_str()
        .ok_or_else(|| type_error(field, "a string", value))
}

fn as_bool(field: &str, value: &Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| type_error(field, "true or false", value))
}

fn as_int(field: &str, value: &Value, max: i64) -> Result<u64> {
    let n = value
        .as_integer()
        .ok_or_else(|| type_error(field, "an integer", value))?;
    if n < 0 {
        return Err(Error::policy(field, "must not be negative"));
    }
    if n > max {
        return Err(Error::policy(field, format!("must be at most {max}")));
    }
    Ok(n as u64)
}

fn as_threshold(field: &str, value: &Value) -> Result<Option<u32>> {
    match value {
        Value::Boolean(false) => Ok(None),
        Value::Boolean(true) => Err(Error::policy(
            field,
            "expected a count or false (to turn it off), got true",
        )),
        Value::Integer(_) => Ok(Some(as_int(field, value, MAX_THRESHOLD as i64)? as u32)),
        _ => Err(type_error(field, "a count or false", value)),
    }
}

fn as_optional_duration(field: &str, value: &Value) -> Result<Option<Duration>> {
    match value {
        Value::Boolean(false) => Ok(None),
        _ => as_duration(field, value).map(Some),
    }
}

fn as_duration(field: &str, value: &Value) -> Result<Duration> {
    let text = match value {
        Value::String(s) => s.as_str(),
        _ => {
            return Err(Error::policy(
                field,
                format!(
                    "expected a duration string with a unit (\"500ms\", \"30s\", \"15m\", \"24h\", \"7d\"), got {}",
                    value.type_str()
                ),
            ))
        }
    };
    parse_duration(text).map_err(|message| Error::policy(field, message))
}

/// Parses `"500ms"`, `"30s"`, `"15m"`, `"24h"`, `"7d"`.
pub(crate) fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "" => return Err(format!("{text:?} has no unit (use ms, s, m, h or d)")),
        _ => {
            return Err(format!(
                "{text:?}: expected a whole number and a unit: ms, s, m, h or d"
            ))
        }
    };
    if number.is_empty() {
        return Err(format!("{text:?}: expected a whole number before the unit"));
    }
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is too large"))?;
    let ms = n
        .checked_mul(unit_ms)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if ms == 0 {
        return Err(format!("{text:?}: must be longer than zero"));
    }
    Ok(Duration::from_millis(ms))
}

fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// A list entry as the addresses it is matched against are: its host bits
/// cleared, and an IPv4-mapped IPv6 network (`::ffff:203.0.113.0/120`, as a
/// dual-stack server logs addresses) as the IPv4 network it maps
/// (`203.0.113.0/24`), since IPv4-mapped addresses count as IPv4.
pub(crate) fn canonical_cidr(net: IpNet) -> IpNet {
    let net = net.trunc();
    let IpNet::V6(v6) = net else {
        return net;
    };
    match (v6.addr().to_ipv4_mapped(), v6.prefix_len().checked_sub(96)) {
        (Some(v4), Some(prefix)) => Ipv4Net::new(v4, prefix).map_or(net, IpNet::V4),
        _ => net,
    }
}

fn as_cidrs(field: &str, value: &Value) -> Result<Vec<IpNet>> {
    let items = value
        .as_array()
        .ok_or_else(|| type_error(field, "an array of CIDR strings", value))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let f = format!("{field}[{i}]");
            let s = as_str(&f, item)?;
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map(canonical_cidr)
                .map_err(|_| {
                    Error::policy(f, format!("{s:?} is not a CIDR such as \"203.0.113.0/24\""))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Attempt, Guard, Reason};

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn a_mapped_ipv6_entry_is_the_ipv4_network_it_maps() {
        for (given, canonical) in [
            ("::ffff:203.0.113.7/120", "203.0.113.0/24"),
            ("::ffff:198.51.100.9/128", "198.51.100.9/32"),
            ("::ffff:0:0/96", "0.0.0.0/0"),
            // Wider than the mapped space, or not mapped: IPv6 as given.
            ("::ffff:0:0/80", "::/80"),
            ("2001:db8::1/32", "2001:db8::/32"),
            ("10.1.2.3/8", "10.0.0.0/8"),
        ] {
            assert_eq!(canonical_cidr(net(given)), net(canonical), "{given}");
        }
        let built = Policy::builder()
            .deny_cidr(net("::ffff:203.0.113.0/120"))
            .build()
            .unwrap();
        assert_eq!(built.deny_cidrs, [net("203.0.113.0/24")]);
    }

    #[test]
    fn a_mapped_entry_set_on_the_field_denies_the_ipv4_address() {
        let mut policy = Policy::default();
        policy.deny_cidrs.push(net("::ffff:203.0.113.0/120"));
        let d = Guard::new(policy)
            .unwrap()
            .check(&Attempt::new().ip("203.0.113.5"))
            .unwrap();
        assert_eq!((d.action, d.reason), (Action::Deny, Some(Reason::Denylist)));
    }
}
