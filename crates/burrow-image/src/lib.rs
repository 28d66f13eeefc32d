//! Burrow's images.
#![forbid(unsafe_code)]
