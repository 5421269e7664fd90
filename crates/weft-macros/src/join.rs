//! `join!` and `try_join!`: await several futures of different types concurrently.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Token};

pub(crate) struct Input {
    futures: Vec<Expr>,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let futures = Punctuated::<Expr, Token![,]>::parse_terminated(input)?;
        Ok(Input {
            futures: futures.into_iter().collect(),
        })
    }
}

pub(crate) fn expand(input: Input, fallible: bool) -> TokenStream {
    let md = quote! { ::weft::future::maybe_done::MaybeDone };
    let names: Vec<_> = (0..input.futures.len())
        .map(|i| format_ident!("__weft_join_{}", i))
        .collect();
    let setup = input.futures.iter().zip(&names).map(|(f, n)| {
        quote! { let mut #n = ::core::pin::pin!(#md::new(#f)); }
    });
    let polls = names.iter().map(|n| {
        if fallible {
            quote! {
                if #n.as_mut().poll_done(__weft_cx) {
                    if ::core::matches!(#n.as_mut().output_mut(), ::core::option::Option::Some(::core::result::Result::Err(_))) {
                        return ::core::task::Poll::Ready(::core::result::Result::Err(
                            match #n.as_mut().take() {
                                ::core::result::Result::Err(e) => e,
                                ::core::result::Result::Ok(_) => ::core::unreachable!(),
                            },
                        ));
                    }
                } else {
                    __weft_done = false;
                }
            }
        } else {
            quote! { __weft_done &= #n.as_mut().poll_done(__weft_cx); }
        }
    });
    let outputs = names.iter().map(|n| {
        if fallible {
            quote! {
                match #n.as_mut().take() {
                    ::core::result::Result::Ok(v) => v,
                    ::core::result::Result::Err(_) => ::core::unreachable!("errors return early"),
                }
            }
        } else {
            quote! { #n.as_mut().take() }
        }
    });
    let ready = if fallible {
        quote! { ::core::result::Result::Ok((#(#outputs,)*)) }
    } else {
        quote! { (#(#outputs,)*) }
    };
    quote! {{
        #(#setup)*
        // The futures are locals of this block: whatever is still running when it ends (after
        // an error, in `try_join!`) is dropped before the macro's value is used.
        ::core::future::poll_fn(|__weft_cx| {
            let mut __weft_done = true;
            #(#polls)*
            if __weft_done {
                ::core::task::Poll::Ready(#ready)
            } else {
                ::core::task::Poll::Pending
            }
        })
        .await
    }}
}
