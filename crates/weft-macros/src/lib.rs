//! The `#[weft::main]` and `#[weft::test]` attributes and `select!`. Use them through the
//! `weft` crate.

mod join;
mod select;

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ItemFn, MetaNameValue, Token};

/// Parsed `workers = N` and `start_paused = BOOL` arguments.
struct Args {
    workers: Option<Expr>,
    start_paused: Option<Expr>,
}

fn parse_args(args: TokenStream) -> syn::Result<Args> {
    let parsed = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse(args)?;
    let mut out = Args {
        workers: None,
        start_paused: None,
    };
    for kv in parsed {
        if kv.path.is_ident("workers") {
            out.workers = Some(kv.value);
        } else if kv.path.is_ident("start_paused") {
            out.start_paused = Some(kv.value);
        } else {
            return Err(syn::Error::new_spanned(
                kv.path,
                "unknown argument: the arguments are `workers = N` and `start_paused = true`",
            ));
        }
    }
    Ok(out)
}

fn require_async(f: &ItemFn, what: &str) -> syn::Result<()> {
    if f.sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            f.sig.fn_token,
            format!("#[weft::{what}] needs an `async fn`"),
        ));
    }
    Ok(())
}

/// Runs an `async fn main` on weft. See `weft::main`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, false).unwrap_or_else(|e| e.to_compile_error().into())
}

/// Runs an `async fn` test on its own executor. See `weft::test`.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, true).unwrap_or_else(|e| e.to_compile_error().into())
}

fn expand(args: TokenStream, item: TokenStream, is_test: bool) -> syn::Result<TokenStream> {
    let args = parse_args(args)?;
    if let (Some(paused), false) = (&args.start_paused, is_test) {
        return Err(syn::Error::new_spanned(
            paused,
            "`start_paused` is for `#[weft::test]`",
        ));
    }
    let mut f: ItemFn = syn::parse(item)?;
    require_async(&f, if is_test { "test" } else { "main" })?;
    if !is_test && f.sig.ident != "main" {
        return Err(syn::Error::new(
            Span::call_site(),
            "#[weft::main] goes on `async fn main`",
        ));
    }
    f.sig.asyncness = None;
    let body = &f.block;
    let name = f.sig.ident.to_string();
    let run = match (&args.workers, is_test) {
        (None, false) => quote! { ::weft::block_on(async move #body) },
        (workers, _) => {
            let workers = match workers {
                Some(w) => quote! { .workers(#w) },
                None => quote! {},
            };
            let paused = match &args.start_paused {
                Some(p) => quote! { .start_paused(#p) },
                None => quote! {},
            };
            quote! {
                let __weft_executor = ::weft::Executor::builder()
                    #workers
                    #paused
                    .thread_name(#name)
                    .build()
                    .expect("weft: failed to start the executor");
                let __weft_output = __weft_executor.block_on(async move #body);
                __weft_executor.shutdown();
                __weft_output
            }
        }
    };
    let attrs = &f.attrs;
    let vis = &f.vis;
    let sig = &f.sig;
    let test_attr = if is_test {
        quote! { #[::core::prelude::v1::test] }
    } else {
        quote! {}
    };
    Ok(quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            #run
        }
    }
    .into())
}

/// Waits on several channel operations and futures; exactly one arm takes effect. See
/// `weft::select!`.
#[proc_macro]
pub fn select(input: TokenStream) -> TokenStream {
    match syn::parse::<select::Input>(input) {
        Ok(parsed) => select::expand(parsed).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Awaits several futures concurrently; evaluates to the tuple of their outputs. See
/// `weft::join!`.
#[proc_macro]
pub fn join(input: TokenStream) -> TokenStream {
    match syn::parse::<join::Input>(input) {
        Ok(parsed) => join::expand(parsed, false).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Awaits several futures of `Result`s concurrently, stopping at the first `Err`. See
/// `weft::try_join!`.
#[proc_macro]
pub fn try_join(input: TokenStream) -> TokenStream {
    match syn::parse::<join::Input>(input) {
        Ok(parsed) => join::expand(parsed, true).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
