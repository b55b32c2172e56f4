//! Personal and secret data out of exported code: secrets found by the secrets scan's rules,
//! email addresses and public IP addresses replaced by `<SECRET>`, `<EMAIL>` and
//! `<IP_ADDRESS>` in a file's text before its functions are read, so code, docstrings and
//! tokens all lose them.

use pycorpus_secrets::RuleSet;
use regex::Regex;
use serde::Serialize;
use std::borrow::Cow;

/// How many of each were replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Redacted {
    /// Secrets (the built-in rules of `pycorpus secrets`).
    pub secrets: u64,
    /// Email addresses.
    pub emails: u64,
    /// IPv4 addresses, but for loopback, private, link-local and unspecified ones.
    pub ip_addresses: u64,
}

impl Redacted {
    /// Adds `o`.
    pub fn add(&mut self, o: Redacted) {
        self.secrets += o.secrets;
        self.emails += o.emails;
        self.ip_addresses += o.ip_addresses;
    }
}

/// The replacer.
#[derive(Debug)]
pub struct Redactor {
    rules: RuleSet,
    email: Regex,
    ip: Regex,
}

impl Default for Redactor {
    fn default() -> Redactor {
        Redactor {
            rules: RuleSet::builtin(),
            email: Regex::new(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b").expect("a valid regex"),
            ip: Regex::new(r"\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b").expect("a valid regex"),
        }
    }
}

/// A public address (not loopback, private, link-local, unspecified, broadcast), every octet
/// at most 255.
fn public_ip(o: [u32; 4]) -> bool {
    if o.iter().any(|&x| x > 255) {
        return false;
    }
    let private = matches!(o, [0, ..] | [10, ..] | [127, ..] | [169, 254, ..] | [192, 168, ..] | [255, 255, 255, 255]) || (o[0] == 172 && (16..32).contains(&o[1]));
    !private
}

impl Redactor {
    /// `text` with its secrets, emails and public IP addresses replaced, and the counts.
    pub fn redact<'a>(&self, text: &'a str) -> (Cow<'a, str>, Redacted) {
        let mut counts = Redacted::default();
        // (start, end, replacement), secrets first: an email inside a secret (a database URL's
        // host) goes with it
        let mut spans: Vec<(usize, usize, &'static str)> = self.rules.scan(text.as_bytes()).into_iter().map(|f| (f.start, f.end, "<SECRET>")).collect();
        counts.secrets = spans.len() as u64;
        let inside = |spans: &[(usize, usize, &str)], s: usize, e: usize| spans.iter().any(|&(a, b, _)| s < b && a < e);
        for m in self.email.find_iter(text) {
            if !inside(&spans, m.start(), m.end()) {
                spans.push((m.start(), m.end(), "<EMAIL>"));
                counts.emails += 1;
            }
        }
        for c in self.ip.captures_iter(text) {
            let m = c.get(0).expect("the match");
            let octets = [1, 2, 3, 4].map(|i| c.get(i).and_then(|g| g.as_str().parse::<u32>().ok()).unwrap_or(999));
            // `1.2.3.4.5` is a version, not an address
            let dotted_on = text[m.end()..].starts_with('.') && text[m.end() + 1..].starts_with(|ch: char| ch.is_ascii_digit());
            if public_ip(octets) && !dotted_on && !inside(&spans, m.start(), m.end()) {
                spans.push((m.start(), m.end(), "<IP_ADDRESS>"));
                counts.ip_addresses += 1;
            }
        }
        if spans.is_empty() {
            return (Cow::Borrowed(text), counts);
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (s, e, with) in spans {
            if s < at {
                continue; // overlapping: the earlier span took it
            }
            out.push_str(&text[at..s]);
            out.push_str(with);
            at = e;
        }
        out.push_str(&text[at..]);
        (Cow::Owned(out), counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_emails_and_public_addresses_are_replaced() {
        let r = Redactor::default();
        let text = "TOKEN = 'ghp_R8x2Lq9ZkT4vWb7NcY1mHs6PdJ3fGa0eUuKo'\n# by Jane <jane.doe@corp-mail.net>\nHOST = '93.184.216.34'\nLOCAL = '127.0.0.1'\nINNER = '10.1.2.3'\nVERSION = '1.2.3.4.5'\nDB = 'postgresql://app:Qz8vR2mLx9Tw@db.internal:5432/x'\n";
        let (out, n) = r.redact(text);
        assert_eq!(
            out,
            "TOKEN = '<SECRET>'\n# by Jane <<EMAIL>>\nHOST = '<IP_ADDRESS>'\nLOCAL = '127.0.0.1'\nINNER = '10.1.2.3'\nVERSION = '1.2.3.4.5'\nDB = 'postgresql://app:<SECRET>@db.internal:5432/x'\n"
        );
        assert_eq!(n, Redacted { secrets: 2, emails: 1, ip_addresses: 1 });
        assert!(matches!(r.redact("x = 1\n").0, Cow::Borrowed(_)));
    }
}
