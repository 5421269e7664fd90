//! `select!`: parsing and expansion.
//!
//! ```text
//! select! {
//!     biased;                                 // optional, first: poll arms in order
//!     pattern = expression, if condition => handler,
//!     default => handler,                     // optional: taken at once if no arm is ready
//! }
//! ```
//!
//! The expansion evaluates each enabled arm's expression once, in order, turns it into an arm
//! (`ch.recv()` and `ch.send(v)` become channel arms, anything else a future arm), drives them
//! with `weft::channel::__select::Select`, and runs the winning arm's handler outside the
//! polling loop, so handlers may `.await`, `break`, `continue` and `return`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::visit_mut::VisitMut;
use syn::{Expr, Pat, Token};

struct Branch {
    pat: Pat,
    expr: Expr,
    cond: Option<Expr>,
    body: Expr,
}

pub(crate) struct Input {
    biased: bool,
    branches: Vec<Branch>,
    default: Option<Expr>,
}

fn parse_body(input: ParseStream<'_>) -> syn::Result<Expr> {
    let body: Expr = if input.peek(syn::token::Brace) {
        Expr::Block(input.parse()?)
    } else {
        input.parse()?
    };
    let is_block = matches!(body, Expr::Block(_));
    if input.peek(Token![,]) {
        input.parse::<Token![,]>()?;
    } else if !is_block && !input.is_empty() {
        return Err(input.error("expected `,` after this select! arm"));
    }
    Ok(body)
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut out = Input {
            biased: false,
            branches: Vec::new(),
            default: None,
        };
        if input.peek(syn::Ident) && input.peek2(Token![;]) {
            let ident: syn::Ident = input.fork().parse()?;
            if ident == "biased" {
                input.parse::<syn::Ident>()?;
                input.parse::<Token![;]>()?;
                out.biased = true;
            }
        }
        while !input.is_empty() {
            if input.peek(syn::Ident) && input.peek2(Token![=>]) {
                let ident: syn::Ident = input.fork().parse()?;
                if ident == "default" {
                    input.parse::<syn::Ident>()?;
                    input.parse::<Token![=>]>()?;
                    if out.default.is_some() {
                        return Err(syn::Error::new(
                            ident.span(),
                            "select! has two `default` arms",
                        ));
                    }
                    out.default = Some(parse_body(input)?);
                    continue;
                }
            }
            let pat = Pat::parse_multi_with_leading_vert(input)?;
            input.parse::<Token![=]>()?;
            let expr: Expr = input.parse()?;
            let cond = if input.peek(Token![,]) && input.peek2(Token![if]) {
                input.parse::<Token![,]>()?;
                input.parse::<Token![if]>()?;
                Some(input.parse()?)
            } else {
                None
            };
            input.parse::<Token![=>]>()?;
            let body = parse_body(input)?;
            out.branches.push(Branch {
                pat,
                expr,
                cond,
                body,
            });
        }
        if out.branches.is_empty() && out.default.is_none() {
            return Err(syn::Error::new(
                Span::call_site(),
                "select! needs at least one arm",
            ));
        }
        Ok(out)
    }
}

/// Strips `mut` and `ref` from bindings, so the pattern can be tested against a reference.
struct CleanPattern;

impl VisitMut for CleanPattern {
    fn visit_pat_ident_mut(&mut self, i: &mut syn::PatIdent) {
        i.mutability = None;
        i.by_ref = None;
        syn::visit_mut::visit_pat_ident_mut(self, i);
    }
}

pub(crate) fn expand(input: Input) -> TokenStream {
    let n = input.branches.len();
    let biased = input.biased;
    let has_default = input.default.is_some();
    let s = quote! { ::weft::channel::__select };

    let arm_names: Vec<_> = (0..n).map(|i| format_ident!("__weft_arm_{}", i)).collect();
    let variants: Vec<_> = (0..n).map(|i| format_ident!("_{}", i)).collect();
    let generics: Vec<_> = (0..n).map(|i| format_ident!("__T{}", i)).collect();

    let setup = input.branches.iter().zip(&arm_names).map(|(b, name)| {
        let expr = &b.expr;
        let cond = match &b.cond {
            Some(c) => quote! { #c },
            None => quote! { true },
        };
        quote! {
            let mut #name = ::core::pin::pin!(if #cond {
                ::core::option::Option::Some((&#s::ArmInput::new(#expr)).__weft_arm())
            } else {
                ::core::option::Option::None
            });
        }
    });

    let slots = arm_names.iter().map(|name| {
        quote! {
            #name.as_mut().as_pin_mut().map(|a| a as ::core::pin::Pin<&mut dyn #s::Arm>)
        }
    });

    let checks = input.branches.iter().enumerate().map(|(i, b)| {
        let name = &arm_names[i];
        let variant = &variants[i];
        let mut clean = b.pat.clone();
        CleanPattern.visit_pat_mut(&mut clean);
        quote! {
            ::core::option::Option::Some(#i) => {
                let __weft_v = #name
                    .as_mut()
                    .as_pin_mut()
                    .expect("the winning arm is enabled")
                    .take_output();
                #[allow(unused_variables, unreachable_patterns, clippy::redundant_pattern_matching)]
                match &__weft_v {
                    #clean => break __WeftOut::#variant(__weft_v),
                    _ => {
                        // A refutable pattern did not match: this arm is disabled for the rest
                        // of this select, and the value is dropped.
                        #name.set(::core::option::Option::None);
                        continue;
                    }
                }
            }
        }
    });

    let handlers = input.branches.iter().enumerate().map(|(i, b)| {
        let variant = &variants[i];
        let pat = &b.pat;
        let body = &b.body;
        quote! { __WeftOut::#variant(#pat) => { #body } }
    });
    let default_handler = match &input.default {
        Some(body) => quote! { __WeftOut::Default => { #body }, },
        None => {
            quote! { __WeftOut::Default => ::core::unreachable!("select! has no default arm"), }
        }
    };

    quote! {{
        #[allow(non_camel_case_types, dead_code)]
        enum __WeftOut<#(#generics,)*> {
            #(#variants(#generics),)*
            Default,
        }
        // The arms live in this inner block: they are gone (and so are their borrows) before
        // a handler runs.
        let __weft_out = {
            #[allow(unused_imports)]
            use #s::{IntoChannelArm as _, IntoFutureArm as _};
            #(#setup)*
            let mut __weft_select = #s::Select::new(#biased, #has_default);
            #[allow(unreachable_code, clippy::never_loop)]
            let __weft_out = loop {
                let __weft_won = ::core::future::poll_fn(|__weft_cx| {
                    let mut __weft_slots: [#s::ArmSlot<'_>; #n] = [#(#slots,)*];
                    __weft_select.poll(__weft_cx, &mut __weft_slots)
                })
                .await;
                match __weft_won {
                    #(#checks)*
                    _ => break __WeftOut::Default,
                }
            };
            __weft_out
        };
        #[allow(unreachable_code, unused_variables, unreachable_patterns)]
        match __weft_out {
            #(#handlers,)*
            #default_handler
            // The loop above only lets through values that match their arm's pattern.
            _ => ::core::unreachable!("select! output does not match its arm's pattern"),
        }
    }}
}
