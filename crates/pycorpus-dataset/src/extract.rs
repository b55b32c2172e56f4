//! Functions of one Python file, found with ruff's parser: name, the lines CPython's `ast`
//! gives them (`lineno` of the `def`, `end_lineno`), their source text from the `def`, their
//! docstring, their comments and their tokens.

use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_ast::{Expr, Stmt, StmtClassDef, StmtFunctionDef};
use ruff_python_parser::{Mode, ParseOptions, parse_unchecked};
use ruff_text_size::Ranged;

/// One function or method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// `name`, `Class.method`, or for nested ones `outer.inner`.
    pub name: String,
    /// Line of the `def` (or `async`), 1-based, as CPython's `lineno`.
    pub start_line: u32,
    /// Last line, as CPython's `end_lineno`.
    pub end_line: u32,
    /// Source text from the `def` (or `async`) to the end of the body.
    pub code: String,
    /// The docstring's value, as written (not cleaned), when the body starts with one.
    pub docstring: Option<String>,
    /// `#` comments inside, without the `#` and surrounding blanks, in order.
    pub comments: Vec<String>,
    /// Tokens of the code as byte spans of `code`, the docstring and comments left out; each
    /// string (f-strings too) is one token. Filled only for the functions the caller keeps.
    pub code_tokens: Vec<Span>,
    /// The docstring's token and where it goes in `code_tokens` (giving the token stream with
    /// the docstring, PyTorrent's `code_tokens_ast`).
    pub docstring_token: Option<(usize, Span)>,
    /// Nested inside another function (or a class inside one).
    pub nested: bool,
}

/// A token as a byte range of the text it is in: 8 bytes instead of a string each.
pub type Span = (u32, u32);

/// The text of `span` in `text`.
pub fn span_text(text: &str, span: Span) -> &str {
    text.get(span.0 as usize..span.1 as usize).unwrap_or("")
}

/// Why a file gave no functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileSkip {
    /// Not UTF-8 nor a declared encoding.
    NotText,
    /// Not valid Python 3 syntax.
    SyntaxError,
    /// Nested deeper than the walk goes.
    TooDeep,
}

/// Deepest nesting of classes and functions followed (far beyond real code; keeps the walk's
/// recursion bounded on hostile files).
const MAX_NESTING: usize = 100;

/// Byte offsets of line starts, for offset -> line.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        Lines(starts)
    }

    /// 1-based line of byte `offset`.
    fn line(&self, offset: usize) -> u32 {
        self.0.partition_point(|&s| s <= offset) as u32
    }
}

struct Walk<'a, 'k> {
    keep: &'k mut dyn FnMut(&Function) -> bool,
    text: &'a str,
    lines: Lines,
    tokens: &'a [Token],
    nested: bool,
    out: Vec<Function>,
    too_deep: bool,
}

/// The `def` (or `async`) keyword's offset: back from the name over blanks, line
/// continuations and the keywords.
fn def_start(text: &str, f: &StmtFunctionDef) -> usize {
    let b = text.as_bytes();
    let back_blank = |mut i: usize| {
        loop {
            while i > 0 && matches!(b[i - 1], b' ' | b'\t' | b'\x0c') {
                i -= 1;
            }
            if i >= 2 && b[i - 1] == b'\n' && b[i - 2] == b'\\' {
                i -= 2;
            } else if i >= 3 && b[i - 1] == b'\n' && b[i - 2] == b'\r' && b[i - 3] == b'\\' {
                i -= 3;
            } else {
                return i;
            }
        }
    };
    let mut i = back_blank(f.name.start().to_usize());
    if i >= 3 && &b[i - 3..i] == b"def" {
        i -= 3;
    }
    if f.is_async {
        let j = back_blank(i);
        if j >= 5 && &b[j - 5..j] == b"async" {
            i = j - 5;
        }
    }
    i
}

/// The docstring of a body: its first statement when that is a plain string.
fn docstring(body: &[Stmt]) -> Option<(String, ruff_text_size::TextRange)> {
    match body.first() {
        Some(Stmt::Expr(e)) => match &*e.value {
            Expr::StringLiteral(s) => Some((s.value.to_str().to_string(), e.range())),
            _ => None,
        },
        _ => None,
    }
}

impl Walk<'_, '_> {
    fn body(&mut self, body: &[Stmt], prefix: &str, in_function: bool, depth: usize) {
        if depth > MAX_NESTING {
            self.too_deep = true;
            return;
        }
        for stmt in body {
            match stmt {
                Stmt::FunctionDef(f) => self.function(f, prefix, in_function, depth),
                Stmt::ClassDef(c) => self.class(c, prefix, in_function, depth),
                _ => {}
            }
        }
    }

    fn class(&mut self, c: &StmtClassDef, prefix: &str, in_function: bool, depth: usize) {
        // Methods of module-level classes always; of nested classes when nested ones are asked for.
        if prefix.is_empty() || self.nested {
            self.body(&c.body, &format!("{prefix}{}.", c.name.as_str()), in_function, depth + 1);
        }
    }

    fn function(&mut self, f: &StmtFunctionDef, prefix: &str, in_function: bool, depth: usize) {
        let name = format!("{prefix}{}", f.name.as_str());
        if !in_function || self.nested {
            let start = def_start(self.text, f);
            let end = f.end().to_usize();
            let doc = docstring(&f.body);
            let (lo, hi) = (self.tokens.partition_point(|t| t.start().to_usize() < start), self.tokens.partition_point(|t| t.end().to_usize() <= end));
            let comments =
                self.tokens[lo..hi].iter().filter(|t| t.kind() == TokenKind::Comment).map(|t| self.text[t.start().to_usize()..t.end().to_usize()].trim_start_matches('#').trim().to_string()).collect();
            let mut func = Function {
                name: name.clone(),
                start_line: self.lines.line(start),
                end_line: self.lines.line(end.saturating_sub(1).max(start)),
                code: self.text[start..end].to_string(),
                docstring: doc.as_ref().map(|(d, _)| d.clone()),
                comments,
                code_tokens: Vec::new(),
                docstring_token: None,
                nested: in_function,
            };
            if (self.keep)(&func) {
                let doc_range = doc.map(|(_, r)| (r.start().to_usize(), r.end().to_usize()));
                (func.code_tokens, func.docstring_token) = self.code_tokens(lo, hi, start, doc_range);
                self.out.push(func);
            }
        }
        if self.nested {
            self.body(&f.body, &format!("{name}."), true, depth + 1);
        }
    }

    /// Tokens `lo..hi` as text, without comments and layout; an f-string (t-string) is one
    /// token; the docstring's token is given apart, with its place.
    fn code_tokens(&self, lo: usize, hi: usize, base: usize, doc: Option<(usize, usize)>) -> (Vec<Span>, Option<(usize, Span)>) {
        let (mut out, mut doc_token) = (Vec::new(), None);
        let mut i = lo;
        while i < hi {
            let t = &self.tokens[i];
            let (s, mut e) = (t.start().to_usize(), t.end().to_usize());
            match t.kind() {
                TokenKind::Comment | TokenKind::Newline | TokenKind::NonLogicalNewline | TokenKind::Indent | TokenKind::Dedent | TokenKind::EndOfFile => {
                    i += 1;
                    continue;
                }
                TokenKind::FStringStart | TokenKind::TStringStart => {
                    let mut depth = 0usize;
                    while i < hi {
                        match self.tokens[i].kind() {
                            TokenKind::FStringStart | TokenKind::TStringStart => depth += 1,
                            TokenKind::FStringEnd | TokenKind::TStringEnd => depth -= 1,
                            _ => {}
                        }
                        e = self.tokens[i].end().to_usize();
                        i += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                }
                _ => i += 1,
            }
            let tok = ((s - base) as u32, (e - base) as u32);
            if doc.is_some_and(|(ds, de)| s >= ds && e <= de) && doc_token.is_none() {
                doc_token = Some((out.len(), tok));
            } else {
                out.push(tok);
            }
        }
        (out, doc_token)
    }
}

/// The functions of `text`: module-level functions and methods of module-level classes, and
/// with `nested` also functions inside functions and methods of nested classes, in source
/// order (a function before those inside it). `keep` sees each function before its tokens
/// are made (they are left empty); only those it keeps are tokenized and returned.
pub fn functions(text: &str, nested: bool, keep: &mut dyn FnMut(&Function) -> bool) -> Result<Vec<Function>, FileSkip> {
    let parsed = parse_unchecked(text, ParseOptions::from(Mode::Module));
    if !parsed.errors().is_empty() {
        return Err(FileSkip::SyntaxError);
    }
    let tokens: &[Token] = parsed.tokens();
    let Some(module) = parsed.syntax().as_module() else { return Err(FileSkip::SyntaxError) };
    let mut w = Walk { keep, text, lines: Lines::new(text), tokens, nested, out: Vec::new(), too_deep: false };
    w.body(&module.body, "", false, 0);
    let (out, too_deep) = (w.out, w.too_deep);
    // the tree's own drop recurses as deep as it nests
    if let Some(module) = parsed.try_into_module() {
        pycorpus_analyze::drop_parsed(module);
    }
    match too_deep {
        true => Err(FileSkip::TooDeep),
        false => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"import os

@decorator
def top(a, b=1):
    """Add things.

    More text.
    """
    # first comment
    x = f"{a!r} and {b}"  # trailing
    return x


class Box:
    def method(self):
        def inner():
            return 1
        return inner()

    async   def  run(self):
        await self.x

    class Inner:
        def deep(self):
            pass


def \
    continued():
    return 2
"#;

    #[test]
    fn names_lines_code_docstring_comments_tokens() {
        let fs = functions(SRC, false, &mut |_| true).expect("parses");
        let names: Vec<(&str, u32, u32)> = fs.iter().map(|f| (f.name.as_str(), f.start_line, f.end_line)).collect();
        assert_eq!(names, [("top", 4, 11), ("Box.method", 15, 18), ("Box.run", 20, 21), ("continued", 28, 30)]);
        let top = &fs[0];
        assert!(top.code.starts_with("def top(a, b=1):") && top.code.ends_with("return x"));
        assert_eq!(top.docstring.as_deref(), Some("Add things.\n\n    More text.\n    "));
        assert_eq!(top.comments, ["first comment", "trailing"]);
        let texts: Vec<&str> = top.code_tokens.iter().map(|t| span_text(&top.code, *t)).collect();
        assert_eq!(texts, ["def", "top", "(", "a", ",", "b", "=", "1", ")", ":", "x", "=", "f\"{a!r} and {b}\"", "return", "x"]);
        assert!(top.docstring_token.is_some_and(|(at, t)| at == 10 && span_text(&top.code, t).starts_with("\"\"\"Add things.")), "{:?}", top.docstring_token);
        assert!(fs[2].code.starts_with("async   def  run(self):"));
        let nested = functions(SRC, true, &mut |_| true).expect("parses");
        let names: Vec<&str> = nested.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["top", "Box.method", "Box.method.inner", "Box.run", "Box.Inner.deep", "continued"]);
        assert!(nested[2].nested && !nested[1].nested);
        // functions not kept are not tokenized nor returned
        let mut seen = 0;
        let only = functions(SRC, false, &mut |f| {
            seen += 1;
            assert!(f.code_tokens.is_empty());
            f.name == "Box.run"
        })
        .expect("parses");
        assert_eq!((seen, only.len(), span_text(&only[0].code, only[0].code_tokens[1])), (4, 1, "def"));
    }

    #[test]
    fn docstring_prefixes_and_implicit_concatenation() {
        let fs = functions("def f():\n    r\"\"\"Raw \\d text.\"\"\"\n    return 1\n\ndef g():\n    'One ' 'two.'\n    return 2\n\ndef h():\n    f'not {1} a docstring'\n", false, &mut |_| true)
            .expect("parses");
        let docs: Vec<Option<&str>> = fs.iter().map(|f| f.docstring.as_deref()).collect();
        assert_eq!(docs, [Some("Raw \\d text."), Some("One two."), None]);
    }

    #[test]
    fn bad_and_deep_files_are_skipped() {
        assert_eq!(functions("def f(:\n", false, &mut |_| true), Err(FileSkip::SyntaxError));
        let mut deep = String::new();
        for i in 0..150 {
            deep.push_str(&" ".repeat(i * 4));
            deep.push_str("def f():\n");
        }
        deep.push_str(&" ".repeat(150 * 4));
        deep.push_str("pass\n");
        assert_eq!(functions(&deep, true, &mut |_| true), Err(FileSkip::TooDeep));
        assert_eq!(functions(&deep, false, &mut |_| true).map(|f| f.len()), Ok(1), "only the top one without nesting");
    }
}
