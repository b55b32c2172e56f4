//! Dropping a parsed module without recursion.
//!
//! The tree's own `Drop` recurses once per nesting level, so a file of five million unary
//! minus signs (stored like any `.py` under the size limit) overflows any reasonable stack
//! when its tree is dropped, and leaking such trees instead lets memory grow with the number
//! of them. Here each node's children are moved out onto a heap stack before the node is
//! dropped, so the depth of the tree costs heap, not stack.

use ruff_python_ast::visitor::transformer::{Transformer, walk_expr, walk_pattern, walk_stmt};
use ruff_python_ast::{Expr, ExprNoneLiteral, ModModule, Pattern, PatternMatchAs, Stmt, StmtPass};
use std::cell::RefCell;

/// The nodes moved out of their parents, still to be dropped.
#[derive(Default)]
struct Detached {
    exprs: RefCell<Vec<Expr>>,
    stmts: RefCell<Vec<Stmt>>,
    patterns: RefCell<Vec<Pattern>>,
}

/// Visiting a node moves it out (leaving a leaf in its place) instead of walking into it.
impl Transformer for Detached {
    fn visit_expr(&self, expr: &mut Expr) {
        self.exprs.borrow_mut().push(std::mem::replace(expr, Expr::NoneLiteral(ExprNoneLiteral::default())));
    }

    fn visit_stmt(&self, stmt: &mut Stmt) {
        self.stmts.borrow_mut().push(std::mem::replace(stmt, Stmt::Pass(StmtPass { node_index: Default::default(), range: Default::default() })));
    }

    fn visit_pattern(&self, pattern: &mut Pattern) {
        let leaf = Pattern::MatchAs(PatternMatchAs { node_index: Default::default(), range: Default::default(), pattern: None, name: None });
        self.patterns.borrow_mut().push(std::mem::replace(pattern, leaf));
    }
}

/// Tokens past which [`drop_parsed`] drops a tree without recursion. A tree is about as deep
/// as its tokens are many at most (each level takes a token), and a recursive drop of this
/// many levels fits the parsing threads' stack ([`crate::STACK_BYTES`]) many times over; most
/// files are far below it, where the ordinary drop is cheaper.
pub(crate) const DEEP_TOKENS: usize = 100_000;

/// Drops a parsed module: recursively when it is small (cheaper), else with
/// [`drop_module`].
pub fn drop_parsed(parsed: ruff_python_parser::Parsed<ModModule>) {
    match parsed.tokens().len() > DEEP_TOKENS {
        true => drop_module(parsed.into_syntax()),
        false => drop(parsed),
    }
}

/// Drops `module` with a stack of constant depth, however deeply it nests.
pub(crate) fn drop_module(mut module: ModModule) {
    let d = Detached::default();
    d.visit_body(&mut module.body);
    drop(module);
    loop {
        // one node at a time: walking it moves its children out, then it goes
        let expr = d.exprs.borrow_mut().pop();
        if let Some(mut e) = expr {
            walk_expr(&d, &mut e);
            continue;
        }
        let stmt = d.stmts.borrow_mut().pop();
        if let Some(mut s) = stmt {
            walk_stmt(&d, &mut s);
            continue;
        }
        let pattern = d.patterns.borrow_mut().pop();
        match pattern {
            Some(mut p) => walk_pattern(&d, &mut p),
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruff_python_parser::{Mode, ParseOptions, parse_unchecked};

    fn module(src: &str) -> ModModule {
        let parsed = parse_unchecked(src, ParseOptions::from(Mode::Module));
        assert!(parsed.errors().is_empty(), "{:?}", parsed.errors().first());
        parsed.try_into_module().expect("a module").into_syntax()
    }

    /// Parsed on a thread with the parser's stack; dropped on one with 256 KiB, where a
    /// recursive drop of these trees overflows.
    #[test]
    fn trees_far_deeper_than_the_stack_allows_are_dropped() {
        let n = 200_000;
        let sources = [
            format!("x = {}1\n", "-".repeat(n)),
            format!("x = ({}0)\n", "lambda: ".repeat(n)),
            format!("x = a{}\n", ".b".repeat(n)),
            format!("x = 1{}\n", " + 1".repeat(n)),
            format!("x = [{}{}]\n", "[".repeat(n), "]".repeat(n)),
            format!("match x:\n    case {}y{}:\n        pass\n", "[".repeat(20_000), "]".repeat(20_000)),
            format!("def f():\n    if x:\n        y = {}1\n", "not ".repeat(n)),
        ];
        for src in sources {
            let m = std::thread::Builder::new().stack_size(crate::STACK_BYTES).spawn(move || module(&src)).unwrap().join().unwrap();
            std::thread::Builder::new().stack_size(256 << 10).spawn(move || drop_module(m)).unwrap().join().expect("dropped without overflowing");
        }
    }

    /// Past [`DEEP_TOKENS`], `drop_parsed` takes the path without recursion.
    #[test]
    fn parsed_files_with_many_tokens_are_dropped_without_recursion() {
        let src = format!("x = {}1\n", "-".repeat(2 * DEEP_TOKENS));
        let parsed = std::thread::Builder::new()
            .stack_size(crate::STACK_BYTES)
            .spawn(move || parse_unchecked(&src, ParseOptions::from(Mode::Module)).try_into_module().expect("a module"))
            .unwrap()
            .join()
            .unwrap();
        assert!(parsed.tokens().len() > DEEP_TOKENS);
        std::thread::Builder::new().stack_size(256 << 10).spawn(move || drop_parsed(parsed)).unwrap().join().expect("dropped without overflowing");
    }
}
