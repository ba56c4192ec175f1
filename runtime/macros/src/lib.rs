//! `#[tern::test]` and `#[tern::main]`: run an `async fn` on a fresh tern
//! runtime.
//!
//! Written against `proc_macro` alone (no syn, no quote) to keep builds
//! fast. The attribute reads the item's tokens just far enough to find
//! `async`, the name, the argument list, the return type and the body, and
//! rewrites
//!
//! ```ignore
//! #[tern::test]
//! async fn name() -> R { body }
//! ```
//!
//! into
//!
//! ```ignore
//! #[::core::prelude::v1::test]
//! fn name() -> R { ::tern::block_on(async move { body }) }
//! ```
//!
//! Anything it cannot handle (a non-async fn, arguments, generics) is a
//! compile error pointing at the offending tokens.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Marks an `async fn` as a test that runs on its own fresh tern runtime.
///
/// ```ignore
/// #[tern::test]
/// async fn sleeps() {
///     tern::time::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// ```
///
/// `#[tern::test(start_paused = true)]` starts the runtime's clock paused
/// (see `tern::time::pause`): timers then fire as soon as the runtime has
/// nothing else to do, so a test of a 30 s timeout takes microseconds.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, "test", true)
}

/// Runs `async fn main` on a tern runtime.
///
/// ```ignore
/// #[tern::main]
/// async fn main() -> std::io::Result<()> {
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, "main", false)
}

fn expand(args: TokenStream, item: TokenStream, which: &str, is_test: bool) -> TokenStream {
    let paused = match parse_args(args, which, is_test) {
        Ok(p) => p,
        Err((span, msg)) => return error(span, &msg),
    };
    match parse(item, which) {
        Ok(f) => f.render(is_test, paused),
        Err((span, msg)) => error(span, &msg),
    }
}

/// The attribute's arguments: none, or (for tests) `start_paused = true`
/// or `start_paused = false`. Returns whether the clock starts paused.
fn parse_args(args: TokenStream, which: &str, is_test: bool) -> Result<bool, (Span, String)> {
    let toks: Vec<TokenTree> = args.into_iter().collect();
    let Some(first) = toks.first() else {
        return Ok(false);
    };
    let usage = if is_test {
        format!("#[tern::{which}] takes no arguments or `start_paused = true`")
    } else {
        format!("#[tern::{which}] takes no arguments")
    };
    if !is_test {
        return Err((first.span(), usage));
    }
    match toks.as_slice() {
        [TokenTree::Ident(k), TokenTree::Punct(eq), TokenTree::Ident(v)]
            if k.to_string() == "start_paused" && eq.as_char() == '=' =>
        {
            match v.to_string().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err((v.span(), usage)),
            }
        }
        _ => Err((first.span(), usage)),
    }
}

struct AsyncFn {
    attrs: Vec<TokenTree>,
    vis: Vec<TokenTree>,
    name: Ident,
    ret: Vec<TokenTree>,
    body: Group,
}

fn parse(item: TokenStream, which: &str) -> Result<AsyncFn, (Span, String)> {
    let mut tokens = item.into_iter().peekable();
    let mut attrs = Vec::new();
    let mut vis = Vec::new();
    let mut saw_async = false;
    // Attributes, visibility and qualifiers up to `fn`.
    loop {
        let Some(tt) = tokens.next() else {
            return Err((
                Span::call_site(),
                format!("#[tern::{which}] must be applied to an `async fn`"),
            ));
        };
        match &tt {
            TokenTree::Punct(p) if p.as_char() == '#' => {
                attrs.push(tt.clone());
                if let Some(group) = tokens.next() {
                    attrs.push(group);
                }
            }
            TokenTree::Ident(id) if id.to_string() == "pub" => {
                vis.push(tt.clone());
                if let Some(TokenTree::Group(g)) = tokens.peek() {
                    if g.delimiter() == Delimiter::Parenthesis {
                        vis.extend(tokens.next());
                    }
                }
            }
            TokenTree::Ident(id) if id.to_string() == "async" => saw_async = true,
            TokenTree::Ident(id) if id.to_string() == "fn" => {
                if !saw_async {
                    return Err((
                        id.span(),
                        format!("#[tern::{which}] functions must be `async fn`: add `async` before `fn`"),
                    ));
                }
                break;
            }
            other => {
                return Err((
                    other.span(),
                    format!(
                        "#[tern::{which}] must be applied to an `async fn`; unexpected `{other}`"
                    ),
                ));
            }
        }
    }
    let name = match tokens.next() {
        Some(TokenTree::Ident(id)) => id,
        Some(other) => return Err((other.span(), "expected the function's name".into())),
        None => return Err((Span::call_site(), "expected the function's name".into())),
    };
    match tokens.next() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
            if !g.stream().is_empty() {
                return Err((
                    g.span(),
                    format!("#[tern::{which}] functions take no arguments"),
                ));
            }
        }
        Some(TokenTree::Punct(p)) if p.as_char() == '<' => {
            return Err((
                p.span(),
                format!("#[tern::{which}] functions cannot be generic"),
            ));
        }
        Some(other) => return Err((other.span(), "expected `()`".into())),
        None => return Err((Span::call_site(), "expected `()`".into())),
    }
    let mut ret = Vec::new();
    loop {
        match tokens.next() {
            Some(TokenTree::Group(g))
                if g.delimiter() == Delimiter::Brace && tokens.peek().is_none() =>
            {
                return Ok(AsyncFn {
                    attrs,
                    vis,
                    name,
                    ret,
                    body: g,
                });
            }
            Some(TokenTree::Ident(id)) if id.to_string() == "where" => {
                return Err((
                    id.span(),
                    format!("#[tern::{which}] functions cannot have a where clause"),
                ));
            }
            Some(tt) => ret.push(tt),
            None => return Err((Span::call_site(), "expected the function body".into())),
        }
    }
}

impl AsyncFn {
    fn render(self, is_test: bool, paused: bool) -> TokenStream {
        let mut out = Vec::<TokenTree>::new();
        if is_test {
            // #[::core::prelude::v1::test]: the built-in attribute even where
            // `use tern::test;` makes a plain `test` name this macro.
            let mut path = Vec::<TokenTree>::new();
            for seg in ["core", "prelude", "v1", "test"] {
                path.push(Punct::new(':', Spacing::Joint).into());
                path.push(Punct::new(':', Spacing::Alone).into());
                path.push(Ident::new(seg, Span::call_site()).into());
            }
            out.push(Punct::new('#', Spacing::Alone).into());
            out.push(Group::new(Delimiter::Bracket, path.into_iter().collect()).into());
        }
        out.extend(self.attrs);
        out.extend(self.vis);
        out.push(Ident::new("fn", Span::call_site()).into());
        out.push(self.name.into());
        out.push(Group::new(Delimiter::Parenthesis, TokenStream::new()).into());
        out.extend(self.ret);
        // ::tern::block_on(async move { body }), or with the clock paused
        // ::tern::block_on_paused(async move { body })
        let mut call = Vec::<TokenTree>::new();
        let run = if paused {
            "block_on_paused"
        } else {
            "block_on"
        };
        for seg in ["tern", run] {
            call.push(Punct::new(':', Spacing::Joint).into());
            call.push(Punct::new(':', Spacing::Alone).into());
            call.push(Ident::new(seg, Span::call_site()).into());
        }
        let inner: Vec<TokenTree> = vec![
            Ident::new("async", Span::call_site()).into(),
            Ident::new("move", Span::call_site()).into(),
            self.body.into(),
        ];
        call.push(Group::new(Delimiter::Parenthesis, inner.into_iter().collect()).into());
        out.push(Group::new(Delimiter::Brace, call.into_iter().collect()).into());
        out.into_iter().collect()
    }
}

fn error(span: Span, msg: &str) -> TokenStream {
    // ::core::compile_error!("msg");
    let mut lit = Literal::string(msg);
    lit.set_span(span);
    let tokens: Vec<TokenTree> = vec![
        Punct::new(':', Spacing::Joint).into(),
        Punct::new(':', Spacing::Alone).into(),
        Ident::new("core", span).into(),
        Punct::new(':', Spacing::Joint).into(),
        Punct::new(':', Spacing::Alone).into(),
        Ident::new("compile_error", span).into(),
        Punct::new('!', Spacing::Alone).into(),
        Group::new(
            Delimiter::Parenthesis,
            TokenStream::from(TokenTree::Literal(lit)),
        )
        .into(),
        Punct::new(';', Spacing::Alone).into(),
    ];
    tokens
        .into_iter()
        .map(|mut t| {
            t.set_span(span);
            t
        })
        .collect()
}
