//! Search, raw against tuned, and what tuning gained: exact cosine top-k ([`search`]),
//! precision@k over gold labels ([`metrics`]) and the evaluation protocol that simulates a
//! person labelling and compares raw with tuned over seeds ([`protocol`]), the page's own
//! figure for data without gold labels ([`check`]) and its replay against gold
//! ([`replay`]), and the 2D map of either space ([`projection`]).

pub mod check;
pub mod metrics;
pub mod projection;
pub mod protocol;
pub mod replay;
pub mod search;
