//! Rules: the built-in set, and gitleaks' TOML format (`[[rules]]` with `id`, `regex`,
//! `secretGroup`, `entropy`, `keywords`, `[[rules.allowlists]]` / `[rules.allowlist]` with
//! `regexes` and `stopwords`, and a global `[allowlist]`).

use crate::RuleError;
use regex::bytes::{Regex, RegexBuilder};

/// Bytes a compiled rule may take: a rule past it is refused with its id, not run.
pub(crate) const REGEX_SIZE: usize = 4 << 20;

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its id (`aws-access-key-id`), the `rule` column of the findings.
    pub id: String,
    /// What it finds.
    pub description: String,
    pub(crate) regex: Regex,
    /// The capture group holding the secret (0: the whole match).
    pub secret_group: usize,
    /// Least Shannon entropy (bits per character) of a secret.
    pub entropy: Option<f64>,
    /// Lower-case words one of which a blob must hold for the rule to run (none: always runs).
    pub keywords: Vec<String>,
    /// Secrets matching one of these are not findings.
    pub(crate) allow: Vec<Regex>,
    /// Secrets holding one of these words (without case) are not findings.
    pub(crate) stopwords: Vec<String>,
    /// A rule of shape rather than of issuer (high-entropy assignments): reported as generic.
    pub generic: bool,
}

/// Compiles a rule's regex with ASCII `\w`, `\d`, `\s` and `\b`, as Go's regexp (gitleaks') has
/// them. That is also what keeps a scan at DFA speed: a Unicode word boundary sends the regex
/// engine to its slow NFA simulation on any blob with a non-ASCII byte, which cut the scan of
/// corpus-v1 to 3.6 MB/s. A pattern that needs Unicode (`\p{L}`) is compiled with it.
pub(crate) fn compile(id: &str, pattern: &str) -> Result<Regex, RuleError> {
    let build = |p: &str| RegexBuilder::new(p).size_limit(REGEX_SIZE).dfa_size_limit(REGEX_SIZE).build();
    build(&format!("(?-u){pattern}")).or_else(|_| build(pattern)).map_err(|e| RuleError::Regex { rule: id.to_string(), message: e.to_string() })
}

/// `(id, description, regex, secret group, entropy, keywords)` of the built-in rules.
type Builtin = (&'static str, &'static str, &'static str, usize, Option<f64>, &'static [&'static str]);

const BUILTIN: &[Builtin] = &[
    ("pypi-upload-token", "PyPI (or TestPyPI) upload token", r"pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,}", 0, None, &["pypi-age"]),
    ("aws-access-key-id", "AWS access key id", r"\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b", 1, Some(3.0), &["akia", "asia", "abia", "acca", "a3t"]),
    (
        "aws-secret-access-key",
        "AWS secret access key assigned to an AWS-named variable",
        r#"(?i)aws_?(?:secret_?(?:access_?)?key|secret)['"]?\s{0,3}(?:=|:|=>|,)\s{0,5}['"]?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+]|$)"#,
        1,
        Some(3.5),
        &["aws"],
    ),
    ("github-pat", "GitHub personal access token (classic)", r"\bghp_[0-9A-Za-z]{36}\b", 0, Some(3.0), &["ghp_"]),
    ("github-fine-grained-pat", "GitHub fine-grained personal access token", r"\bgithub_pat_[0-9A-Za-z_]{82}\b", 0, Some(3.0), &["github_pat_"]),
    ("github-oauth", "GitHub OAuth access token", r"\bgho_[0-9A-Za-z]{36}\b", 0, Some(3.0), &["gho_"]),
    ("github-app-token", "GitHub app token", r"\b(?:ghu|ghs)_[0-9A-Za-z]{36}\b", 0, Some(3.0), &["ghu_", "ghs_"]),
    ("github-refresh-token", "GitHub refresh token", r"\bghr_[0-9A-Za-z]{36}\b", 0, Some(3.0), &["ghr_"]),
    ("gitlab-pat", "GitLab personal access token", r"\bglpat-[0-9A-Za-z_-]{20}\b", 0, Some(3.0), &["glpat-"]),
    ("slack-token", "Slack bot, user or app token", r"\bxox[abposr]-(?:[0-9]{10,13}-){1,3}[A-Za-z0-9-]{10,48}\b", 0, Some(3.0), &["xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-"]),
    ("slack-webhook", "Slack incoming webhook", r"https://hooks\.slack\.com/services/T[A-Z0-9]{8,10}/B[A-Z0-9]{8,12}/[A-Za-z0-9]{24}", 0, None, &["hooks.slack.com"]),
    ("stripe-key", "Stripe secret or restricted key", r"\b(?:sk|rk)_(?:test|live|prod)_[0-9A-Za-z]{10,99}\b", 0, Some(3.0), &["sk_test_", "sk_live_", "sk_prod_", "rk_test_", "rk_live_", "rk_prod_"]),
    ("openai-api-key", "OpenAI API key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,74}T3BlbkFJ[A-Za-z0-9_-]{20,74}\b", 0, None, &["t3blbkfj"]),
    ("anthropic-api-key", "Anthropic API key", r"\bsk-ant-(?:api03|admin01)-[A-Za-z0-9_-]{93}AA\b", 0, None, &["sk-ant-"]),
    ("google-api-key", "Google API key", r"\bAIza[0-9A-Za-z_-]{35}\b", 0, Some(3.0), &["aiza"]),
    ("azure-storage-key", "Azure storage account key", r"(?i)AccountKey=([A-Za-z0-9+/]{86}==)", 1, Some(4.0), &["accountkey="]),
    (
        "private-key",
        "Private key (PEM, OpenSSH, PGP)",
        r"(?s)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----.{64,}?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----",
        0,
        None,
        &["-----begin"],
    ),
    ("jwt", "JSON Web Token", r"\beyJ[A-Za-z0-9_-]{15,}\.eyJ[A-Za-z0-9_-]{15,}\.[A-Za-z0-9_-]{10,}", 0, Some(3.0), &["eyj"]),
    (
        "database-url",
        "Database or broker URL with a password",
        r#"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql)://[^\s:/@'"]{1,64}:([^\s:/@'"]{3,128})@[^\s/'"]{1,255}"#,
        1,
        None,
        &["://"],
    ),
    (
        "generic-secret",
        "High-entropy value assigned to a key-, token-, secret- or password-named variable",
        r#"(?i)(?:api_?key|secret|token|passwd|password|auth_?key|credential|private_?key)[\w.-]{0,20}\\?['"]?\s{0,3}(?:=|:|=>|:=)\s{0,5}\\?['"]([0-9A-Za-z_.=+/-]{16,150})\\?['"]"#,
        1,
        Some(3.7),
        &["key", "secret", "token", "passw", "credential"],
    ),
];

/// Words whose presence in a secret marks a placeholder, for every rule: documentation's and
/// templates' values (`AKIAIOSFODNN7EXAMPLE`, `<your-key>`, `${TOKEN}`, `xxxx`).
const PLACEHOLDERS: &[&str] = &["example", "xxxx", "your", "<", ">", "${", "{{", "%(", "dummy", "fake", "placeholder", "changeme", "sample", "****", "redacted", "insert"];

/// Passwords of documentation URLs (`postgres://user:password@host`).
const PASSWORD_WORDS: &[&str] = &["password", "passwd", "pass", "secret", "pwd"];

impl Rule {
    fn builtin((id, description, pattern, group, entropy, keywords): &Builtin) -> Rule {
        let regex = compile(id, pattern).unwrap_or_else(|e| panic!("built-in rule: {e}"));
        let generic = *id == "generic-secret";
        let stopwords = match *id {
            "database-url" => PASSWORD_WORDS.iter().map(|s| s.to_string()).collect(),
            _ => Vec::new(),
        };
        Rule {
            id: id.to_string(),
            description: description.to_string(),
            regex,
            secret_group: *group,
            entropy: *entropy,
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            // as gitleaks' generic rule: a value of letters alone is a name (`NextMarker`), not a key
            allow: if generic { vec![compile(id, "^[A-Za-z_.-]+$").expect("a small regex")] } else { Vec::new() },
            stopwords,
            generic,
        }
    }

    /// The built-in rules, in a fixed order.
    pub fn builtins() -> Vec<Rule> {
        BUILTIN.iter().map(Rule::builtin).collect()
    }

    /// True when `secret` is allowed (not a finding): a placeholder, an allowlisted value, a
    /// stopword, or below the rule's entropy.
    pub(crate) fn allows(&self, secret: &[u8], global: &Allowlist) -> bool {
        let lower = String::from_utf8_lossy(secret).to_ascii_lowercase();
        let placeholder = PLACEHOLDERS.iter().any(|p| lower.contains(p)) || secret.iter().all(|&b| b == secret[0]);
        placeholder
            || self.stopwords.iter().chain(&global.stopwords).any(|w| lower.contains(w.as_str()))
            || self.allow.iter().chain(&global.regexes).any(|r| r.is_match(secret))
            || self.entropy.is_some_and(|min| entropy(secret) < min)
    }
}

/// Shannon entropy of `s` in bits per byte.
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum()
}

/// A global allowlist (gitleaks' `[allowlist]`).
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    pub(crate) regexes: Vec<Regex>,
    pub(crate) stopwords: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GitleaksConfig {
    #[serde(default)]
    rules: Vec<GitleaksRule>,
    #[serde(default)]
    allowlist: Option<GitleaksAllow>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GitleaksRule {
    id: Option<String>,
    #[serde(default)]
    description: String,
    regex: Option<String>,
    #[serde(default)]
    secret_group: usize,
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    allowlists: Vec<GitleaksAllow>,
    allowlist: Option<GitleaksAllow>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GitleaksAllow {
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
}

/// Rules of a gitleaks TOML file, and its global allowlist. A rule without a regex (gitleaks'
/// path-only rules) is refused, as is one whose regex does not compile or is too large, each
/// error naming the rule.
pub fn parse_gitleaks(text: &str) -> Result<(Vec<Rule>, Allowlist), RuleError> {
    let cfg: GitleaksConfig = toml::from_str(text).map_err(|e| RuleError::Format(e.to_string()))?;
    let mut rules = Vec::new();
    for (i, r) in cfg.rules.into_iter().enumerate() {
        let id = r.id.unwrap_or_else(|| format!("rule-{}", i + 1));
        let pattern = r.regex.ok_or_else(|| RuleError::Regex { rule: id.clone(), message: "no regex (path-only rules are not supported)".into() })?;
        let regex = compile(&id, &pattern)?;
        if r.secret_group > regex.captures_len().saturating_sub(1) {
            return Err(RuleError::Regex { rule: id, message: format!("secretGroup {} but the regex has {} group(s)", r.secret_group, regex.captures_len() - 1) });
        }
        let mut allow = Vec::new();
        let mut stopwords = Vec::new();
        for a in r.allowlists.into_iter().chain(r.allowlist) {
            for (j, p) in a.regexes.iter().enumerate() {
                allow.push(compile(&format!("{id} allowlist regex {}", j + 1), p)?);
            }
            stopwords.extend(a.stopwords.into_iter().map(|w| w.to_ascii_lowercase()));
        }
        rules.push(Rule {
            generic: id.starts_with("generic"),
            id,
            description: r.description,
            regex,
            secret_group: r.secret_group,
            entropy: r.entropy,
            keywords: r.keywords.into_iter().map(|k| k.to_ascii_lowercase()).collect(),
            allow,
            stopwords,
        });
    }
    let mut global = Allowlist::default();
    if let Some(a) = cfg.allowlist {
        for (j, p) in a.regexes.iter().enumerate() {
            global.regexes.push(compile(&format!("allowlist regex {}", j + 1), p)?);
        }
        global.stopwords = a.stopwords.into_iter().map(|w| w.to_ascii_lowercase()).collect();
    }
    Ok((rules, global))
}
