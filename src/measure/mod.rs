//! Search, raw against tuned, and what tuning gained: exact cosine top-k ([`search`]),
//! precision@k and the evaluation protocol over gold labels ([`metrics`]), the page's own
//! figure for data without gold labels ([`check`]) and its replay against gold
//! ([`replay`]), and the 2D map of either space ([`projection`]).

pub mod check;
pub mod metrics;
pub mod projection;
pub mod replay;
pub mod search;
