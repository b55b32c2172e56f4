use super::*;

use crate::samples::{Noise, planted};

const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#[test]
fn every_builtin_rule_finds_its_planted_secret() {
    let rules = RuleSet::builtin();
    let ids: Vec<&str> = rules.rules().iter().map(|r| r.id.as_str()).collect();
    for seed in [1u64, 7, 42, 1234, 99_999] {
        let cases = planted(seed);
        assert_eq!(cases.iter().map(|c| c.0).collect::<Vec<_>>(), ids, "one case per rule");
        for (id, line, secret) in &cases {
            let text = format!("import os\n\n{line}\nprint('done')\n");
            let found = rules.scan(text.as_bytes());
            let got: Vec<(&str, &str, u64)> = found.iter().map(|f| (rules.rules()[f.rule].id.as_str(), &text[f.start..f.end], f.line)).collect();
            assert!(got.contains(&(id, secret.as_str(), 3)), "{id} (seed {seed}): {line}\nfound {got:?}");
        }
    }
}

#[test]
fn lookalikes_are_not_findings() {
    let rules = RuleSet::builtin();
    let mut n = Noise(3);
    let uuid = format!("{}-{}-{}-{}-{}", n.text("0123456789abcdef", 8), n.text("0123456789abcdef", 4), n.text("0123456789abcdef", 4), n.text("0123456789abcdef", 4), n.text("0123456789abcdef", 12));
    let lookalikes = [
        "aws_access_key_id = 'AKIAIOSFODNN7EXAMPLE'".to_string(),
        "AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'".into(),
        "token = 'ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'".into(),
        "api_key = '<your-api-key>'".into(),
        "API_KEY = \"${API_KEY}\"".into(),
        "password = \"{{ vault_password }}\"".into(),
        "DATABASE_URL = 'postgres://user:password@localhost/db'".into(),
        "url = 'mysql://root:pass@127.0.0.1/test'".into(),
        format!("sha = '{}'", n.text("0123456789abcdef", 40)),
        format!("md5 = \"{}\"", n.text("0123456789abcdef", 32)),
        format!("request_id = '{uuid}'"),
        format!("icon = 'data:image/png;base64,{}'", n.text(B64, 200)),
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----".into(),
        "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----".into(),
        "stripe.api_key = 'sk_test_xxxxxxxxxxxxxxxxxxxxxxxx'".into(),
        "SECRET_KEY = 'changeme-changeme-changeme'".into(),
        "token_type = 'bearer_token_with_words'".into(),
        "password = 'aaaaaaaaaaaaaaaaaaaaaaaa'".into(),
        "output_token = 'DistributionList.NextMarker'".into(),
    ];
    for l in &lookalikes {
        let found = rules.scan(l.as_bytes());
        let named: Vec<&str> = found.iter().map(|f| rules.rules()[f.rule].id.as_str()).collect();
        assert!(named.is_empty(), "{l}: {named:?}");
    }
}

#[test]
fn hostile_input_is_scanned_in_linear_time() {
    let rules = RuleSet::builtin();
    // a 5 MiB single line, a million AKIA prefixes, invalid UTF-8 around a secret
    let line = "x".repeat(5 << 20);
    assert!(rules.scan(line.as_bytes()).is_empty());
    let prefixes = "AKIA".repeat(1_000_000);
    let t = std::time::Instant::now();
    assert!(rules.scan(prefixes.as_bytes()).is_empty());
    assert!(t.elapsed() < std::time::Duration::from_secs(60), "{:?}", t.elapsed());
    let (id, line, secret) = planted(5).into_iter().find(|c| c.0 == "github-pat").expect("case");
    let mut data = b"\xff\xfe\x00garbage\n".to_vec();
    data.extend_from_slice(line.as_bytes());
    let found = rules.scan(&data);
    assert_eq!(found.len(), 1, "{id}");
    assert_eq!((&data[found[0].start..found[0].end], found[0].line), (secret.as_bytes(), 2));
}

/// `\b`, `\w`, `\d`, `\s` are ASCII, as in gitleaks' Go regexps: a non-ASCII letter before a
/// token is a boundary. (Unicode word boundaries also sent every blob with a non-ASCII byte to
/// the regex engine's slow NFA simulation: 100x slower on corpus-v1.)
#[test]
fn classes_and_word_boundaries_are_ascii() {
    let rules = RuleSet::builtin();
    let (_, _, secret) = planted(9).into_iter().find(|c| c.0 == "github-pat").expect("case");
    for text in [format!("# clé:é{secret}é\n"), format!("ключ = «{secret}»")] {
        let found = rules.scan(text.as_bytes());
        assert_eq!(found.iter().map(|f| &text[f.start..f.end]).collect::<Vec<_>>(), [secret.as_str()], "{text}");
    }
    let rules = RuleSet::from_gitleaks("[[rules]]\nid = \"word\"\nregex = '''\\bid_\\w+'''\n").expect("parses");
    assert_eq!(rules.scan("éid_abcé".as_bytes()).iter().map(|f| (f.start, f.end)).collect::<Vec<_>>(), [(2, 8)]);
    // a rule that needs Unicode still compiles, with it
    let rules = RuleSet::from_gitleaks("[[rules]]\nid = \"letters\"\nregex = '''secret=(\\p{L}{8})'''\nsecretGroup = 1\n").expect("parses");
    assert_eq!(rules.scan("secret=ключключ".as_bytes()).len(), 1);
}

#[test]
fn gitleaks_rule_files_are_read_and_bad_rules_named() {
    let toml = r#"
title = "custom"
[allowlist]
stopwords = ["internal-test"]

[[rules]]
id = "acme-token"
description = "ACME API token"
regex = '''acme_([a-z0-9]{24})'''
secretGroup = 1
entropy = 3.0
keywords = ["ACME_"]
[[rules.allowlists]]
regexes = ['''^0+$''']
"#;
    let rules = RuleSet::from_gitleaks(toml).expect("parses");
    let mut n = Noise(11);
    let secret = n.text("abcdefghijklmnopqrstuvwxyz0123456789", 24);
    let found = rules.scan(format!("x = 'acme_{secret}'").as_bytes());
    assert_eq!(found.len(), 1);
    assert!(rules.scan(b"x = 'acme_000000000000000000000000'").is_empty(), "the rule's allowlist");
    assert!(rules.scan(b"x = 'ACME_abcdefghijklmnopqrstuvwx'").is_empty(), "the regex is case-sensitive, the keyword not");
    for (bad, rule) in [
        ("[[rules]]\nid = \"broken\"\nregex = '''(unclosed'''\n", "broken"),
        ("[[rules]]\nid = \"huge\"\nregex = '''(\\w{1000}){1000}'''\n", "huge"),
        ("[[rules]]\nid = \"nogroup\"\nregex = 'a'\nsecretGroup = 2\n", "nogroup"),
    ] {
        let e = RuleSet::from_gitleaks(bad).expect_err(rule).to_string();
        assert!(e.starts_with(&format!("rule {rule}:")), "{e}");
    }
    assert!(RuleSet::from_gitleaks("not = [toml").expect_err("format").to_string().starts_with("not a gitleaks rule file"));
}

#[test]
fn masks_and_fingerprints() {
    assert_eq!(mask("AKIA1234567890ABCDEF"), "AKIA****************");
    assert_eq!(mask("abc"), "abc");
    assert_eq!(fingerprint(b"x"), "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
    assert!(entropy(b"aaaa") < 0.1 && entropy(b"abcdefgh") > 2.9);
}
