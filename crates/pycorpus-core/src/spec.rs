//! The options of `add` as front ends give them (text and numbers): the one definition of
//! each option, its default and its check. The command line flattens [`AddSpec`] into its
//! flags (the `clap` feature); the Python module deserialises its keyword arguments into it.

use crate::{AddOptions, CoreError};
use pycorpus_catalog::parse_date;

/// `value` (a date: YYYY-MM-DD or RFC 3339) in µs; errors name the option `field` as the front
/// end spells it.
pub fn date(value: Option<&str>, field: &str, name: &dyn Fn(&str) -> String) -> Result<Option<i64>, CoreError> {
    value.map(parse_date).transpose().map_err(|e| CoreError::Invalid(format!("{}: {e}", name(field))))
}

/// How to add distribution files.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct AddSpec {
    /// Upload time to record (default: each file's modification time).
    #[cfg_attr(feature = "clap", arg(long, value_name = "DATE"))]
    pub uploaded_on: Option<String>,
    /// Worker threads (default: one per core).
    #[cfg_attr(feature = "clap", arg(long, short, default_value_t = 0, value_name = "N"))]
    pub jobs: usize,
    /// Read again files recorded as failed.
    #[cfg_attr(feature = "clap", arg(long))]
    pub retry_failed: bool,
}

impl AddSpec {
    /// The upload time to record (None: each file's modification time) and the ingest's
    /// options.
    pub fn build(&self, name: &dyn Fn(&str) -> String) -> Result<(Option<i64>, AddOptions), CoreError> {
        Ok((date(self.uploaded_on.as_deref(), "uploaded_on", name)?, AddOptions { jobs: self.jobs, retry_failed: self.retry_failed }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(f: &str) -> String {
        format!("{f}=")
    }

    #[test]
    fn add_options() {
        let (t, o) = AddSpec { uploaded_on: Some("1970-01-02".into()), jobs: 3, retry_failed: true }.build(&flag).expect("valid");
        assert_eq!((t, o.jobs, o.retry_failed), (Some(86_400_000_000), 3, true));
        assert!(AddSpec { uploaded_on: Some("x".into()), ..Default::default() }.build(&flag).unwrap_err().to_string().starts_with("uploaded_on=: "));
    }
}
