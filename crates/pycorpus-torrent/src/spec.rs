//! The options of `get`, `seed` and `torrent create` as front ends give them: the one
//! definition of each option, its default and its check. The command line flattens these
//! structs into its flags (the `clap` feature); the Python module deserialises its keyword
//! arguments into them.

use crate::{CreateOptions, GetOptions, SwarmOptions, TorrentError};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where a seeder accepts peers unless told otherwise.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:4240";
/// Seconds without progress from peers before web seeds fetch the rest.
pub const DEFAULT_WEBSEED_AFTER: f64 = 15.0;
/// Seconds without progress before giving up when there is no web seed.
pub const DEFAULT_STALL_TIMEOUT: f64 = 300.0;
/// Seconds to wait for the metainfo from peers.
pub const DEFAULT_METADATA_TIMEOUT: f64 = 120.0;
/// Web seed requests in flight at once.
pub const DEFAULT_WEBSEED_CONNECTIONS: usize = 4;

/// A transfer rate in bytes per second: `500k`, `2M`, `1G` or a number (text or, from a
/// front end that has numbers, a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub u32);

impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let t = s.trim();
        let (num, mult) = match t.char_indices().last() {
            Some((i, 'k' | 'K')) => (&t[..i], 1e3),
            Some((i, 'm' | 'M')) => (&t[..i], 1e6),
            Some((i, 'g' | 'G')) => (&t[..i], 1e9),
            _ => (t, 1.0),
        };
        let v: f64 = num.parse().map_err(|_| format!("{s:?} is not a rate in bytes per second (e.g. 500k, 2M)"))?;
        let bytes = v * mult;
        if !(1.0..=f64::from(u32::MAX)).contains(&bytes) {
            return Err(format!("rate {s:?} is outside 1 byte/s .. 4 GB/s"));
        }
        Ok(Rate(bytes as u32))
    }
}

impl<'de> serde::Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Given {
            Number(i64),
            Text(String),
        }
        match Given::deserialize(d)? {
            Given::Number(n) => n.to_string().parse(),
            Given::Text(s) => s.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// `secs` as a duration: negative or NaN is at once, too large for a `Duration` is never.
fn seconds(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX)
}

/// `IP:PORT`, or an error naming the option.
fn address(s: &str, field: &str, name: &dyn Fn(&str) -> String) -> Result<SocketAddr, TorrentError> {
    s.parse().map_err(|_| TorrentError::Invalid(format!("{}: {s:?} is not IP:PORT", name(field))))
}

/// Declares an options struct with its own fields and defaults, followed by the peer
/// session's (both `get` and `seed` take them), and its `Default`: one definition of the
/// peer session's options.
macro_rules! with_peer_session {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty = $default:expr,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize)]
        #[cfg_attr(feature = "clap", derive(clap::Args))]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Extra tracker announce URL; repeat for more.
            #[cfg_attr(feature = "clap", arg(long = "tracker", value_name = "URL", help_heading = "Peer session"))]
            pub trackers: Vec<String>,
            /// Use the DHT and local peer discovery (on unless turned off: then only trackers and
            /// given peers).
            #[cfg_attr(feature = "clap", arg(long = "no-dht", action = clap::ArgAction::SetFalse, help_heading = "Peer session"))]
            pub dht: bool,
            /// Port announced to trackers and the DHT (default: the listening port).
            #[cfg_attr(feature = "clap", arg(long, value_name = "PORT", help_heading = "Peer session"))]
            pub announce_port: Option<u16>,
            /// Upload limit in bytes per second (suffixes k, M, G).
            #[cfg_attr(feature = "clap", arg(long, value_name = "RATE", help_heading = "Peer session"))]
            pub upload_limit: Option<Rate>,
            /// Download limit in bytes per second (suffixes k, M, G).
            #[cfg_attr(feature = "clap", arg(long, value_name = "RATE", help_heading = "Peer session"))]
            pub download_limit: Option<Rate>,
        }

        impl Default for $name {
            fn default() -> $name {
                $name { $($field: $default,)* trackers: Vec::new(), dht: true, announce_port: None, upload_limit: None, download_limit: None }
            }
        }

        impl $name {
            /// The peer session's options, accepting peers on `listen` if given.
            fn session(&self, listen: Option<SocketAddr>) -> SwarmOptions {
                SwarmOptions { listen, announce_port: self.announce_port, dht: self.dht, upload_limit: self.upload_limit.map(|r| r.0), download_limit: self.download_limit.map(|r| r.0) }
            }
        }
    };
}

with_peer_session! {
    /// How to fetch a torrent: sources, checks, patience, and the peer session.
    pub struct GetSpec {
        /// A peer to ask (IP:PORT); repeat for more.
        #[cfg_attr(feature = "clap", arg(long = "peer", value_name = "ADDR"))]
        pub peers: Vec<String> = Vec::new(),
        /// A web seed URL (BEP 19); repeat for more.
        #[cfg_attr(feature = "clap", arg(long = "webseed", value_name = "URL"))]
        pub webseeds: Vec<String> = Vec::new(),
        /// A URL serving <info-hash>.torrent files; repeat for more.
        #[cfg_attr(feature = "clap", arg(long = "catalog", value_name = "URL"))]
        pub catalogs: Vec<String> = Vec::new(),
        /// Re-check every piece of a copy already in the datastore.
        #[cfg_attr(feature = "clap", arg(long))]
        pub verify: bool = false,
        /// Also fetch the shards whose blobs a fetched shard's rows use (its manifest's
        /// `depends_on`, by info-hash), and theirs, from the same sources.
        #[cfg_attr(feature = "clap", arg(long))]
        pub with_deps: bool = false,
        /// Accept peers on this address too (needed to seed to peers that cannot be reached).
        #[cfg_attr(feature = "clap", arg(long, value_name = "ADDR"))]
        pub listen: Option<String> = None,
        /// Seconds without progress from peers before web seeds fetch the rest.
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_WEBSEED_AFTER, value_name = "SECS"))]
        pub webseed_after: f64 = DEFAULT_WEBSEED_AFTER,
        /// Seconds without progress before giving up when there is no web seed.
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_STALL_TIMEOUT, value_name = "SECS"))]
        pub stall_timeout: f64 = DEFAULT_STALL_TIMEOUT,
        /// Seconds to wait for the metainfo from peers.
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_METADATA_TIMEOUT, value_name = "SECS"))]
        pub metadata_timeout: f64 = DEFAULT_METADATA_TIMEOUT,
        /// Web seed requests in flight at once.
        #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_WEBSEED_CONNECTIONS, value_name = "N"))]
        pub webseed_connections: usize = DEFAULT_WEBSEED_CONNECTIONS,
    }
}

impl GetSpec {
    /// The fetch's options, downloading into the datastore `dest`; `name` spells an option as
    /// the front end does.
    pub fn build(&self, dest: PathBuf, name: &dyn Fn(&str) -> String) -> Result<GetOptions, TorrentError> {
        let mut opts = GetOptions::new(dest);
        opts.peers = self.peers.iter().map(|p| address(p, "peers", name)).collect::<Result<_, _>>()?;
        opts.webseeds = self.webseeds.clone();
        opts.catalogs = self.catalogs.clone();
        opts.trackers = self.trackers.clone();
        opts.verify = self.verify;
        let listen = self.listen.as_deref().map(|l| address(l, "listen", name)).transpose()?;
        opts.swarm = self.session(listen);
        opts.webseed.connections = self.webseed_connections.max(1);
        opts.webseed_after = seconds(self.webseed_after);
        opts.stall_timeout = seconds(self.stall_timeout);
        opts.metadata_timeout = seconds(self.metadata_timeout);
        Ok(opts)
    }
}

with_peer_session! {
    /// How to seed: where peers connect, what metainfo folder targets get, and the peer session.
    pub struct SeedSpec {
        /// Where peers connect (port 0 picks a free one).
        #[cfg_attr(feature = "clap", arg(long, default_value = DEFAULT_LISTEN, value_name = "ADDR"))]
        pub listen: String = DEFAULT_LISTEN.to_string(),
        /// For .torrent targets: the folder holding their content (default: beside the file).
        #[cfg_attr(feature = "clap", arg(long, value_name = "DIR"))]
        pub data: Option<PathBuf> = None,
        /// Web seed URL written into metainfo made for folder targets.
        #[cfg_attr(feature = "clap", arg(long = "webseed", value_name = "URL"))]
        pub webseeds: Vec<String> = Vec::new(),
        /// Also write each torrent as DIR/<info-hash>.torrent: a catalog for `get --catalog`.
        #[cfg_attr(feature = "clap", arg(long, value_name = "DIR"))]
        pub torrent_dir: Option<PathBuf> = None,
    }
}

impl SeedSpec {
    /// The peer session's options; `name` spells an option as the front end does.
    pub fn swarm(&self, name: &dyn Fn(&str) -> String) -> Result<SwarmOptions, TorrentError> {
        Ok(self.session(Some(address(&self.listen, "listen", name)?)))
    }

    /// What metainfo made for folder targets holds.
    pub fn metainfo(&self) -> CreateOptions {
        CreateOptions { webseeds: self.webseeds.clone(), ..Default::default() }
    }
}

/// What a torrent made by `torrent create` holds besides its content.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct CreateSpec {
    /// A web seed URL (BEP 19 url-list); repeat for more.
    #[cfg_attr(feature = "clap", arg(long = "webseed", value_name = "URL"))]
    pub webseeds: Vec<String>,
    /// A tracker announce URL; repeat for more.
    #[cfg_attr(feature = "clap", arg(long = "tracker", value_name = "URL"))]
    pub trackers: Vec<String>,
    /// Record the creation date (outside the info dictionary: the info-hash stays the same).
    #[cfg_attr(feature = "clap", arg(long))]
    pub creation_date: bool,
    /// Piece length in bytes instead of the rule (a power of two, 16384 to 16777216).
    #[cfg_attr(feature = "clap", arg(long, value_name = "BYTES"))]
    pub piece_length: Option<u64>,
}

impl CreateSpec {
    /// The metainfo's options (the creation date is now, when asked for).
    pub fn build(&self) -> CreateOptions {
        let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        CreateOptions { trackers: self.trackers.clone(), webseeds: self.webseeds.clone(), creation_date: self.creation_date.then(now), piece_length: self.piece_length }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(f: &str) -> String {
        format!("{f}=")
    }

    #[test]
    fn rates_from_text_and_numbers() {
        assert_eq!("2M".parse::<Rate>(), Ok(Rate(2_000_000)));
        assert_eq!("500k".parse::<Rate>(), Ok(Rate(500_000)));
        assert!("fast".parse::<Rate>().is_err() && "0".parse::<Rate>().is_err() && "5G".parse::<Rate>().is_err());
        let s: SeedSpec = serde_json::from_str(r#"{"upload_limit": 1000, "download_limit": "1k"}"#).expect("parses");
        assert_eq!((s.upload_limit, s.download_limit), (Some(Rate(1000)), Some(Rate(1000))));
        let e = serde_json::from_str::<SeedSpec>(r#"{"upload_limit": -1}"#).unwrap_err().to_string();
        assert!(e.starts_with(r#"rate "-1" is outside 1 byte/s"#), "{e}");
    }

    #[test]
    fn get_options_are_checked_and_named() {
        let spec: GetSpec = serde_json::from_str(r#"{"peers": ["127.0.0.1:6881"], "webseed_after": -3, "stall_timeout": 1e300, "dht": false}"#).expect("parses");
        let o = spec.build("d".into(), &kw).expect("valid");
        assert_eq!((o.peers.len(), o.webseed_after, o.stall_timeout, o.swarm.dht), (1, Duration::ZERO, Duration::MAX, false));
        let bad = GetSpec { peers: vec!["nowhere".into()], ..Default::default() }.build("d".into(), &kw).unwrap_err();
        assert_eq!(bad.to_string(), r#"peers=: "nowhere" is not IP:PORT"#);
        assert!(SeedSpec { listen: "x".into(), ..Default::default() }.swarm(&kw).unwrap_err().to_string().starts_with("listen=: "));
    }
}
