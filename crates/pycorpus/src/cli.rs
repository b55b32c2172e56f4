//! The command-line interface: every flag, with its help. No I/O here.

use clap::{Args, Parser, Subcommand, ValueEnum};
use pycorpus_catalog::FilterSpec;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  pycorpus init                                  create ./pycorpus-data
  pycorpus add ~/downloads/dists/                add every distribution file in a folder
  pycorpus seal                                  compact the open shard
  pycorpus status                                what the corpus holds
  pycorpus ls --project 'django*' --ext py       list files
  pycorpus cat requests 2.34.2 requests/api.py   print a file
  pycorpus verify                                re-hash everything";

/// Turn the code published on a Python package index into a local corpus you can mirror,
/// search, analyse and share.
#[derive(Debug, Parser)]
#[command(name = "pycorpus", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// The corpus folder.
    #[arg(long, global = true, env = "PYCORPUS_DIR", default_value = "pycorpus-data", value_name = "DIR")]
    pub corpus: PathBuf,
    /// Print nothing but results and errors (no progress, no notes).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More log output on stderr (repeat for more). No short form: `-v` is grep's
    /// `--invert-match`.
    #[arg(long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once; boxing would only obscure the CLI types
pub enum Command {
    /// Create a corpus folder (corpus.toml, state.sqlite, shards/). Safe to run again.
    #[command(after_help = "Example:\n  pycorpus --corpus /data/pycorpus init")]
    Init,
    /// Add distribution files (sdists, wheels, eggs, conda packages) or folders of them.
    ///
    /// Each file is read safely under the limits of corpus.toml; every file inside is indexed,
    /// unique contents are stored once. Files already in the corpus (same sha256) are skipped;
    /// a corrupt archive is recorded as failed with its reason and the rest goes on. Safe to
    /// interrupt at any point: run it again to add the rest.
    #[command(after_help = "Examples:\n  pycorpus add requests-2.34.2.tar.gz\n  pycorpus add ~/dists/ --uploaded-on 2024-05-01\n  pycorpus add ~/dists/ --json > summary.json")]
    Add(AddArgs),
    /// Mirror distribution files from a package index into the corpus.
    ///
    /// The index is --index-url, else corpus.toml's index_url, else PIP_INDEX_URL, else pip's
    /// configuration, else the local pip's default. Files are verified by sha256, downloaded
    /// concurrently, resumed after an interruption, ingested as they arrive and then deleted
    /// (unless --keep-archives). A second run fetches only what is new.
    #[command(
        after_help = "Examples:\n  pycorpus sync --project requests --project flask --latest 1\n  pycorpus sync --projects-file projects.txt --types sdist --since 2024-01-01\n  pycorpus sync --lock corpus-v1.tsv\n  pycorpus sync --project numpy --only-pure-wheels --dry-run"
    )]
    Sync(SyncArgs),
    /// Write a lock file of the corpus (project, version, filename, size, sha256, upload_time):
    /// `sync --lock` of it rebuilds the same corpus.
    Lock(LockArgs),
    /// Seal the open shard: compact, immutable, with a Parquet index and a manifest.
    #[command(after_help = "Example:\n  pycorpus seal --json")]
    Seal(SealArgs),
    /// Show what the corpus holds: distributions, files, unique blobs, sizes, shards.
    Status(StatusArgs),
    /// Re-hash every blob and check every manifest and index. Exit code 1 when anything is wrong.
    Verify(VerifyArgs),
    /// Rewrite the corpus's format-1 shards as format 2 (each blob stored once per corpus).
    ///
    /// Builds the new shards beside the old ones (only packs are rewritten; other files are
    /// hard-linked), then swaps them in one atomic rename: interrupted at any point, the corpus
    /// is all old or all new, and the next run starts again. Needs free space for the new packs.
    #[command(after_help = "Example:\n  pycorpus upgrade --json")]
    Upgrade(UpgradeArgs),
    /// Add the packaging columns and dependency tables to shards sealed before they existed.
    ///
    /// Reads each such shard's stored metadata files (PKG-INFO, METADATA, pyproject.toml,
    /// setup.cfg, requires.txt, WHEEL, entry_points.txt, top_level.txt, conda's index.json) and
    /// writes its releases.parquet and requirements, entry_points and import_names tables anew;
    /// shards that depend on a rewritten one take its new info-hash. Like `upgrade`, the shards
    /// are swapped in one atomic rename: interrupted, the corpus is as it was.
    #[command(name = "reindex-metadata", after_help = "Examples:\n  pycorpus reindex-metadata\n  pycorpus reindex-metadata --force --json")]
    ReindexMetadata(ReindexMetadataArgs),
    /// List indexed files.
    #[command(
        after_help = "Examples:\n  pycorpus ls --project requests --ext py\n  pycorpus ls --path '**/pyproject.toml' --format jsonl\n  pycorpus ls --skip-reason too-large --format csv > big.csv"
    )]
    Ls(LsArgs),
    /// Search file contents with a regular expression (ripgrep's syntax, flags and matching).
    ///
    /// Each unique blob is searched once; a match is shown with the first file holding the blob
    /// and `[+N]` when N other files hold it too (`--all-paths` shows every one). Output is in
    /// a fixed order. Exit code: 0 when something matched, 1 when nothing did, 2 on error.
    #[command(
        after_help = "Examples:\n  pycorpus grep 'import numpy as np' --ext py -l\n  pycorpus grep -w -i 'todo' --project 'django*' --since 2024-01-01 -C 2\n  pycorpus grep 'def \\w+\\(self, \\w+=None\\)' --ext py --json | head"
    )]
    Grep(GrepArgs),
    /// Write the selected files' contents to a folder.
    ///
    /// Prints each file written (relative to DEST) on stdout and a summary on stderr. Names
    /// are made safe for every file system; a rerun skips what is already there and never
    /// overwrites a different file.
    #[command(after_help = "Examples:\n  pycorpus extract out/ --ext py --unique\n  pycorpus extract out/ --layout tree --project requests --path '**/pyproject.toml'")]
    Extract(ExtractArgs),
    /// Stream the selected files and their contents to stdout, for scripts.
    ///
    /// `jsonl`: one object per file: oid, project, version, release, path, path_in_archive,
    /// size, uploaded_on, encoding (utf-8 or base64) and contents. `raw`: `git cat-file
    /// --batch` framing (`<oid> blob <size>\n<contents>\n`), one per unique blob.
    #[command(after_help = "Examples:\n  pycorpus stream --path '**/pyproject.toml' | python3 my_script.py\n  pycorpus stream --ext py --format raw | my-cat-file-batch-reader")]
    Stream(StreamArgs),
    /// Parse each unique Python file of the selection once and record its language facts.
    ///
    /// `.py` and `.pyi` files unless --ext says otherwise. Facts (parse status, minimum Python
    /// version, feature counts, imports) go to <corpus>/analysis/, keyed by blob id: a rerun
    /// parses only blobs not analysed before, so a new shard costs only its new files.
    #[command(after_help = "Examples:\n  pycorpus analyze\n  pycorpus analyze --project 'django*' --since 2024-01-01")]
    Analyze(AnalyzeArgs),
    /// Chart the adoption of language features and packaging over time, from the facts of
    /// `analyze`.
    ///
    /// Writes one self-contained HTML page (inline SVG charts, no script, opens from disk),
    /// each chart as SVG and PNG, and with --csv / --parquet the tables behind them. Three
    /// views: share of releases using a feature, share of projects uploading in a period that
    /// use it (py-code.org's definition), share of unique files (first seen in the period).
    /// Filters select the rows counted (packaging facts read every file of a release).
    #[command(
        after_help = "Examples:\n  pycorpus analyze && pycorpus report\n  pycorpus report -o report.html --csv tables --period year\n  pycorpus report --since 2020-01-01 --exclude-tests-docs --parquet out/"
    )]
    Report(ReportArgs),
    /// Export ML datasets from the corpus.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Make torrents of shards, exports or any folder.
    #[command(subcommand)]
    Torrent(TorrentCommand),
    /// Share sealed shards, folders or .torrent files with peers until Ctrl-C.
    ///
    /// Without TARGET, every sealed shard of the corpus. Each target is checked against its
    /// metainfo before it is offered (a folder gets the same metainfo `torrent create` makes).
    #[command(
        after_help = "Examples:\n  pycorpus seed                                   every sealed shard of the corpus\n  pycorpus seed pycorpus-data/shards/000001 --torrent-dir catalog/\n  pycorpus seed csn/ --listen 0.0.0.0:6881 --tracker http://tracker.example:6969/announce"
    )]
    Seed(SeedArgs),
    /// Fetch a torrent by info-hash, magnet link or .torrent file, verified piece by piece.
    ///
    /// First looks in the datastore (-o DIR, or the corpus's shards/): a copy whose
    /// verification stamp still holds returns at once (--verify re-checks every piece). Then
    /// finds the metainfo (the .torrent given, a --catalog serving <hash>.torrent, or peers)
    /// and refuses one whose info-hash differs from the one asked for; downloads from peers,
    /// and from web seeds (HTTP Range) when there are no peers or they stall; resumes after an
    /// interruption. Without -o, the torrent must be a shard: it is registered in the corpus
    /// and usable by grep and analyze at once. Prints the path.
    #[command(
        after_help = "Examples:\n  pycorpus get 5f0f7c...e1 --catalog https://example.invalid/torrents\n  pycorpus get 'magnet:?xt=urn:btih:5f0f...&x.pe=10.0.0.2:6881'\n  pycorpus get shard-000001.torrent -o downloads/\n  pycorpus get csn.torrent -o data/ --webseed https://example.invalid/mirror/"
    )]
    Get(GetArgs),
    /// Serve code search, browsing and live statistics in the browser, with a JSON API behind
    /// every page, until Ctrl-C.
    ///
    /// Read-only and safe to run beside other commands (shards sealed meanwhile show up).
    /// Listens on 127.0.0.1:8000 unless --bind says otherwise; any other address needs --token.
    /// Search is `grep`'s engine: /search?q=PATTERN (the page), /api/search?q=PATTERN (JSON);
    /// /project/NAME, /project/NAME/RELEASE, /blob/OID and /stats browse (docs/API.md).
    #[command(after_help = "Examples:\n  pycorpus serve\n  pycorpus serve --bind 0.0.0.0:8000 --token \"$(openssl rand -hex 16)\"\n  curl 'http://127.0.0.1:8000/api/search?q=frobnicate&ext=py'")]
    Serve(ServeArgs),
    /// Print a file: by blob id, or by project, version and path inside the distribution.
    #[command(after_help = "Examples:\n  pycorpus cat ce013625030ba8dba906f756967f9e9ca394464a\n  pycorpus cat requests 2.34.2 src/requests/api.py")]
    Cat(CatArgs),
    /// What a project requires over its releases, or (--reverse) who requires it.
    ///
    /// From each distribution's own metadata (core metadata, pyproject.toml, setup.cfg,
    /// requires.txt, conda's index.json), read at ingest into each shard's requirements.parquet.
    /// Table: one line per release and requirement (a release's distributions and files saying
    /// the same are shown once); jsonl and csv: every row, with the index's column names.
    #[command(
        after_help = "Examples:\n  pycorpus deps requests\n  pycorpus deps requests --reverse --extras --since 2024-01-01\n  pycorpus deps urllib3 --reverse --format jsonl | jq -r .project_name | sort -u"
    )]
    Deps(DepsArgs),
    /// Find leaked credentials: each unique stored blob of the selection scanned once.
    ///
    /// Built-in rules (PyPI, AWS, GitHub, GitLab, Slack, Stripe, OpenAI, Anthropic, Google,
    /// Azure, private keys, JWTs, database URLs, a generic high-entropy assignment) or a
    /// gitleaks TOML file (--rules). One record per file holding a finding: rule, the index's
    /// columns, line, the blob's first upload, a fingerprint (sha256 of the secret), the secret
    /// masked (--show-secrets: in full), and `context` (test, docs, example folders). Exit
    /// code 0 when something was found, 1 when nothing was, 2 on error.
    #[command(after_help = "Examples:\n  pycorpus secrets --ext py --since 2024-01-01\n  pycorpus secrets --rules gitleaks.toml --format jsonl > findings.jsonl")]
    Secrets(SecretsArgs),
}

/// `secrets`' arguments.
#[derive(Debug, Args)]
pub struct SecretsArgs {
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Rules and what to show.
    #[command(flatten)]
    pub spec: pycorpus_explore::SecretsSpec,
    /// Output format (csv and parquet have the jsonl fields as columns; parquet needs -o).
    #[arg(long, value_enum, default_value_t = SecretsFormat::Table)]
    pub format: SecretsFormat,
    /// Write to FILE instead of stdout (replaced whole when complete).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

/// `secrets`' output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecretsFormat {
    /// Aligned columns for a terminal.
    Table,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header.
    Csv,
    /// A Parquet file (with -o).
    Parquet,
}

/// `deps`'s arguments.
#[derive(Debug, Args)]
pub struct DepsArgs {
    /// The project (any spelling: names are compared normalised).
    pub project: String,
    /// Which requirements.
    #[command(flatten)]
    pub spec: pycorpus_explore::DepsSpec,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `serve`'s arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where and how to serve.
    #[command(flatten)]
    pub spec: pycorpus_serve::ServeSpec,
}

/// `add`'s arguments.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Files or folders (searched recursively for distribution file names).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// How to add.
    #[command(flatten)]
    pub spec: pycorpus_core::AddSpec,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `lock`'s arguments.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// Output file (default: standard output).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `seal`'s arguments.
#[derive(Debug, Args)]
pub struct SealArgs {
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `status`'s arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `verify`'s arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `reindex-metadata`'s arguments.
#[derive(Debug, Args)]
pub struct ReindexMetadataArgs {
    /// Every sealed shard, not only those without the tables.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `upgrade`'s arguments.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ls`'s arguments.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Stop after N rows.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}

/// `grep`'s arguments.
#[derive(Debug, Args)]
pub struct GrepArgs {
    /// The pattern (a Rust regex; with -F a literal string).
    pub pattern: String,
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// How to match.
    #[command(flatten)]
    pub spec: pycorpus_explore::GrepSpec,
    /// Print only the files that match.
    #[arg(short = 'l', long, conflicts_with = "count")]
    pub files_with_matches: bool,
    /// Print the number of selected lines per file.
    #[arg(short = 'c', long)]
    pub count: bool,
    /// Show every file holding a matching blob, not the first one and a count.
    #[arg(long)]
    pub all_paths: bool,
    /// JSON lines: oid, project, version, release, path, path_in_archive, line_number, type, text.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// `extract`'s arguments.
#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// Destination folder (created if needed).
    pub dest: PathBuf,
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// How to write.
    #[command(flatten)]
    pub spec: pycorpus_explore::ExtractSpec,
}

/// `stream`'s arguments.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Framing.
    #[arg(long, value_enum, default_value_t = pycorpus_explore::StreamFormat::Jsonl)]
    pub format: pycorpus_explore::StreamFormat,
    /// Base64 for every file's contents, not only for those that are not UTF-8.
    #[arg(long)]
    pub base64: bool,
}

/// `analyze`'s arguments.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Limits.
    #[command(flatten)]
    pub spec: pycorpus_analyze::AnalyzeSpec,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `report`'s arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// What to count, how to draw it, where to write it.
    #[command(flatten)]
    pub spec: pycorpus_report::ReportSpec,
    /// Print what was written and counted as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cat`'s arguments.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// A blob id (40 hex digits), or PROJECT VERSION PATH.
    #[arg(required = true, num_args = 1..=3, value_name = "OID | PROJECT VERSION PATH")]
    pub what: Vec<String>,
}

/// `export` formats.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// <natural language, code> pairs of functions in the CodeSearchNet / PyTorrent schema.
    ///
    /// Every unique Python file of the selection is parsed once; module-level functions and
    /// methods of module-level classes (with --nested, nested ones too) become records, which
    /// pass CodeSearchNet's and CodeXGLUE's filters, exact and near-duplicate removal, and a
    /// split by a hash of the project name. DEST gets python/final/<format>/<split>/ files, a
    /// dataset card (README.md) and the corpus's lock file; the same corpus gives the same bytes.
    #[command(
        after_help = "Examples:\n  pycorpus export codesearchnet csn/\n  pycorpus export codesearchnet csn-comments/ --scenario comments --format parquet\n  pycorpus export codesearchnet small/ --project 'django*' --split 90/5/5 --min-code-lines 5"
    )]
    Codesearchnet(CodesearchnetArgs),
}

/// `export codesearchnet` arguments.
#[derive(Debug, Args)]
pub struct CodesearchnetArgs {
    /// The dataset folder to create (must not exist).
    pub dest: PathBuf,
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// The export's options.
    #[command(flatten)]
    pub spec: pycorpus_dataset::ExportSpec,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `sync` flags.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// What to mirror, and how.
    #[command(flatten)]
    pub spec: pycorpus_sync::SyncSpec,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal.
    Table,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header.
    Csv,
}

/// The filters shared by every command that selects files (defined once, in
/// [`FilterSpec`]), and `--stats`.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// The filters.
    #[command(flatten)]
    pub spec: FilterSpec,
    /// Print on stderr what the filters let the scan skip: shards, row groups, rows.
    #[arg(long, help_heading = "Filters")]
    pub stats: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every filter of the options layer is a flag of each command that selects files, under
    /// the same name, and nothing else is (but `--stats`).
    #[test]
    fn the_filter_flags_are_the_options_layers_filters() {
        use clap::CommandFactory;
        let want: Vec<String> = pycorpus_catalog::FILTERS.iter().map(|(name, _)| name.to_string()).collect();
        let cli = Cli::command();
        for cmd in ["ls", "grep", "extract", "stream", "analyze", "report"] {
            let c = cli.find_subcommand(cmd).unwrap_or_else(|| panic!("no {cmd}"));
            let got: Vec<String> = c.get_arguments().filter(|a| a.get_help_heading() == Some("Filters") && a.get_id() != "stats").map(|a| a.get_id().to_string()).collect();
            assert_eq!(got, want, "{cmd}");
            for a in c.get_arguments().filter(|a| a.get_help_heading() == Some("Filters")) {
                assert_eq!(a.get_long().map(|l| l.replace('-', "_")), Some(a.get_id().to_string()), "{cmd}: --{:?}", a.get_long());
            }
        }
        let export = cli.find_subcommand("export").and_then(|e| e.find_subcommand("codesearchnet")).expect("export codesearchnet");
        let got: Vec<String> = export.get_arguments().filter(|a| a.get_help_heading() == Some("Filters") && a.get_id() != "stats").map(|a| a.get_id().to_string()).collect();
        assert_eq!(got, want, "export codesearchnet");
    }

    /// The flags of `path` besides the filters (under their heading) and `own` (what only the
    /// command line has).
    fn option_flags(path: &[&str], own: &[&str]) -> Vec<String> {
        use clap::CommandFactory;
        let cli = Cli::command();
        let cmd = path.iter().fold(&cli, |c, name| c.find_subcommand(name).unwrap_or_else(|| panic!("no {name}")));
        let filters: Vec<&str> = pycorpus_catalog::FILTERS.iter().map(|(n, _)| *n).collect();
        let filter = |a: &clap::Arg| filters.contains(&a.get_id().as_str()) && cmd.get_arguments().any(|f| f.get_id() == "stats");
        cmd.get_arguments().filter(|a| !filter(a) && !own.contains(&a.get_id().as_str())).map(|a| a.get_id().to_string()).collect()
    }

    /// Each command's flags are its options struct's fields (the one definition, which the
    /// Python module reads its keyword arguments into), and their defaults are the struct's.
    #[test]
    fn the_flags_are_the_options_layers() {
        use pycorpus_catalog::struct_fields as fields;
        let parse = |args: &[&str]| Cli::try_parse_from(["pycorpus"].iter().chain(args)).unwrap_or_else(|e| panic!("{args:?}: {e}")).command;
        let dbg = |v: &dyn std::fmt::Debug| format!("{v:?}");

        assert_eq!(option_flags(&["add"], &["paths", "json"]), fields::<pycorpus_core::AddSpec>());
        let Command::Add(a) = parse(&["add", "x"]) else { panic!("add") };
        assert_eq!(dbg(&a.spec), dbg(&pycorpus_core::AddSpec::default()));

        assert_eq!(option_flags(&["sync"], &["json"]), fields::<pycorpus_sync::SyncSpec>());
        let Command::Sync(a) = parse(&["sync"]) else { panic!("sync") };
        assert_eq!(dbg(&a.spec), dbg(&pycorpus_sync::SyncSpec::default()));

        assert_eq!(option_flags(&["grep"], &["pattern", "stats", "files_with_matches", "count", "all_paths", "json", "threads"]), fields::<pycorpus_explore::GrepSpec>());
        let Command::Grep(a) = parse(&["grep", "x"]) else { panic!("grep") };
        assert_eq!(dbg(&a.spec), dbg(&pycorpus_explore::GrepSpec::default()));

        assert_eq!(option_flags(&["extract"], &["dest", "stats"]), fields::<pycorpus_explore::ExtractSpec>());
        let Command::Extract(a) = parse(&["extract", "x"]) else { panic!("extract") };
        assert_eq!(dbg(&a.spec), dbg(&pycorpus_explore::ExtractSpec::default()));

        assert_eq!(option_flags(&["analyze"], &["stats", "threads", "json"]), fields::<pycorpus_analyze::AnalyzeSpec>());
        let Command::Analyze(a) = parse(&["analyze"]) else { panic!("analyze") };
        assert_eq!(dbg(&a.spec), dbg(&pycorpus_analyze::AnalyzeSpec::default()));

        assert_eq!(option_flags(&["report"], &["stats", "json"]), fields::<pycorpus_report::ReportSpec>());
        let Command::Report(a) = parse(&["report"]) else { panic!("report") };
        assert_eq!(dbg(&a.spec), dbg(&pycorpus_report::ReportSpec::default()));

        assert_eq!(option_flags(&["get"], &["what", "output", "seed", "json"]), fields::<pycorpus_torrent::GetSpec>());
        let Command::Get(a) = parse(&["get", "x"]) else { panic!("get") };
        assert_eq!(dbg(&a.spec), dbg(&pycorpus_torrent::GetSpec::default()));

        assert_eq!(option_flags(&["seed"], &["targets", "json"]), fields::<pycorpus_torrent::SeedSpec>());
        let Command::Seed(a) = parse(&["seed"]) else { panic!("seed") };
        assert_eq!(dbg(&a.spec), dbg(&pycorpus_torrent::SeedSpec::default()));

        assert_eq!(option_flags(&["torrent", "create"], &["target", "output", "json"]), fields::<pycorpus_torrent::CreateSpec>());
        let Command::Torrent(TorrentCommand::Create(a)) = parse(&["torrent", "create", "x"]) else { panic!("create") };
        assert_eq!(dbg(&a.spec), dbg(&pycorpus_torrent::CreateSpec::default()));

        assert_eq!(option_flags(&["export", "codesearchnet"], &["dest", "stats", "threads", "json"]), fields::<pycorpus_dataset::ExportSpec>());
        let Command::Export(ExportCommand::Codesearchnet(a)) = parse(&["export", "codesearchnet", "out"]) else { panic!("export") };
        assert_eq!(dbg(&a.spec), dbg(&pycorpus_dataset::ExportSpec::default()));
    }

    /// The values of each enum option are the options layer's (clap and serde derive them from
    /// one enum): every value the command line lists deserialises, and no other.
    #[test]
    fn enum_values_are_the_options_layers() {
        use clap::ValueEnum;
        fn same<T: ValueEnum + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>() {
            for v in T::value_variants() {
                let name = v.to_possible_value().expect("listed").get_name().to_string();
                assert_eq!(serde_json::from_value::<T>(serde_json::Value::String(name.clone())).ok().as_ref(), Some(v), "{name}");
            }
        }
        same::<pycorpus_explore::Layout>();
        same::<pycorpus_explore::StreamFormat>();
        same::<pycorpus_report::Period>();
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

/// `torrent` subcommands.
#[derive(Debug, Subcommand)]
pub enum TorrentCommand {
    /// Write the metainfo of a sealed shard, an export or any file or folder.
    ///
    /// Deterministic: files in path order, the piece length by a fixed rule (smallest power of
    /// two from 16 KiB to 16 MiB giving at most 2,048 pieces), no timestamp unless asked; the
    /// same content gives the same info-hash on any machine. Symlinks are refused.
    #[command(after_help = "Examples:\n  pycorpus torrent create pycorpus-data/shards/000001\n  pycorpus torrent create csn/ --webseed https://example.invalid/data/ -o csn.torrent")]
    Create(CreateArgs),
}

/// `torrent create` arguments.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The file or folder.
    pub target: PathBuf,
    /// What the metainfo holds besides the content.
    #[command(flatten)]
    pub spec: pycorpus_torrent::CreateSpec,
    /// Output file (default: NAME.torrent in the current folder).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `seed` arguments.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Shard folders, other folders or files, or .torrent files (default: the corpus's sealed
    /// shards).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<PathBuf>,
    /// How to seed.
    #[command(flatten)]
    pub spec: pycorpus_torrent::SeedSpec,
    /// JSON lines on standard output instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `get` arguments.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// An info-hash (40 hex digits), a magnet link, or a .torrent file.
    #[arg(value_name = "HASH|MAGNET|FILE.torrent")]
    pub what: String,
    /// The datastore folder: the content lands in DIR/NAME (default: the corpus's shards/).
    #[arg(long, short, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// How to fetch.
    #[command(flatten)]
    pub spec: pycorpus_torrent::GetSpec,
    /// Keep seeding after the download, until Ctrl-C.
    #[arg(long)]
    pub seed: bool,
    /// JSON lines on standard output instead of text.
    #[arg(long)]
    pub json: bool,
}
