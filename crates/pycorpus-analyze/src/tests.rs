use super::*;

fn facts(src: &str) -> Facts {
    analyze_source(src.as_bytes(), &Limits::default())
}

#[test]
fn counts_features() {
    let f = facts(
        r#""""Module doc."""
import os.path, numpy as np
from dataclasses import dataclass
from . import sibling
from collections.abc import Mapping

@dataclass
class Point[T]:
    """A point."""
    x: int = 0

async def main(a: int, /, *args: str, b=1, **kw: int) -> None:
    async with lock:
        async for x in stream():
            await x
    values = [y async for y in gen()]
    if (n := len(values)) > 1:
        print(f"{n!r:>{width}}", f'{d["k"]}', f"{'same' if n else "q"}")
    match n:
        case 1: pass
    try:
        pass
    except* ValueError:
        pass
    squares = {k: k * k for k in range(3)}
    evens = {k for k in range(3)}
    lazy = (k for k in range(3))
    first, *rest = [1, 2, 3]
    f = lambda q, /: q
    global counter

type Alias[K] = dict[K, int]
"#,
    );
    assert_eq!(f.status, Status::Ok, "{:?}", f.error);
    let c = &f.counts;
    assert_eq!((c.functions, c.classes, c.docstrings, c.decorators, c.dataclass_decorators, c.dataclass_imports), (1, 1, 2, 1, 1, 1));
    assert_eq!((c.annotated_params, c.annotated_returns, c.annotated_vars), (3, 1, 1));
    assert_eq!((c.async_defs, c.async_withs, c.async_fors, c.awaits, c.async_comprehensions), (1, 1, 1, 1, 1));
    assert_eq!((c.walrus, c.match_stmts, c.except_star, c.type_stmts, c.type_param_lists), (1, 1, 1, 1, 2));
    assert_eq!((c.list_comps, c.dict_comps, c.set_comps, c.generator_exps, c.lambdas, c.starred, c.globals), (1, 1, 1, 1, 1, 1, 1));
    assert_eq!((c.fstrings, c.nested_quote_fstrings, c.posonly_functions), (3, 1, 2));
    assert_eq!(f.imports, vec!["collections", "dataclasses", "numpy", "os"]);
    assert_eq!(f.min_version.as_deref(), Some("3.12"), "type statements and PEP 701 need 3.12");
}

#[test]
fn minimum_versions() {
    assert_eq!(facts("x = 1\n").min_version, None);
    assert_eq!(facts("if (y := 2): pass\n").min_version.as_deref(), Some("3.8"));
    assert_eq!(facts("match x:\n    case _: pass\n").min_version.as_deref(), Some("3.10"));
    assert_eq!(facts("try:\n    pass\nexcept* E:\n    pass\n").min_version.as_deref(), Some("3.11"));
}

#[test]
fn statuses() {
    let p2 = facts("print 'hello'\nprint >>sys.stderr, 'x'\ntry:\n    pass\nexcept IOError, e:\n    pass\n");
    assert_eq!((p2.status, p2.counts.print_stmts), (Status::Python2, 2));
    assert!(p2.error.is_some());
    assert_eq!(facts("def f(:\n").status, Status::SyntaxError);
    assert_eq!(analyze_source(b"x = '\xff\xfe'\n", &Limits::default()).status, Status::NotUtf8);
    for (cookie, byte) in [("latin-1", b'\xe9'), ("latin_1", b'\xe9'), ("windows-1251", b'\xe9'), ("iso-8859-5", b'\xe9')] {
        let src = [format!("# -*- coding: {cookie} -*-\nx = '").as_bytes(), &[byte], b"'\n"].concat();
        assert_eq!(analyze_source(&src, &Limits::default()).status, Status::Ok, "{cookie}");
    }
    let big5 = [b"# -*- coding: big5 -*-\nx = '".as_slice(), &[0xa4, 0x40], b"'\n"].concat();
    assert_eq!(analyze_source(&big5, &Limits::default()).status, Status::Ok);
    assert_eq!(analyze_source(b"# coding: no-such-codec\nx = '\xe9'\n", &Limits::default()).status, Status::NotUtf8);
    let big = analyze_source(&b"x = 1\n".repeat(100), &Limits { max_bytes: 100, ..Limits::default() });
    assert_eq!((big.status, big.lines), (Status::TooLarge, 100));
    let nul = facts("x = 1\0\n");
    assert_ne!(nul.status, Status::Ok);
}

#[test]
fn lines() {
    let f = facts("# comment\n\nx = 1\n    # indented comment\ny = 2");
    assert_eq!((f.lines, f.code_lines), (5, 2));
    assert_eq!(facts("").lines, 0);
}

/// Pathological inputs finish with a status, on a thread with the stack parsing threads get.
#[test]
fn pathological_inputs_finish() {
    let run = |src: Vec<u8>| std::thread::Builder::new().stack_size(STACK_BYTES).spawn(move || analyze_guarded(&src, &Limits::default())).expect("spawn").join().expect("no panic escapes");
    for (open, close) in [("(", ")"), ("[", "]"), ("{", "}")] {
        let f = run(format!("x = {}1{}\n", open.repeat(1000), close.repeat(1000)).into_bytes());
        assert!(matches!(f.status, Status::Ok | Status::Limit | Status::SyntaxError), "{open}: {:?}", f.status);
    }
    let sum = run(format!("x = 1{}\n", "+1".repeat(1_000_000)).into_bytes());
    assert_eq!(sum.status, Status::Limit, "{:?}", sum.error);
    let components = run(format!("x = a{}\n", ".b".repeat(54_187)).into_bytes());
    assert!(matches!(components.status, Status::Ok | Status::Limit), "{:?}", components.status);
}
